// Signatures made by the senders' own published code: Stripe's Node library (stripe@17,
// `webhooks.generateTestHeaderString`, checked with `webhooks.constructEvent`), GitHub's Octokit
// (`@octokit/webhooks-methods@5` `sign` / `verify`), and Shopify's documented Node.js
// verification snippet (https://shopify.dev/docs/apps/build/webhooks/verify-deliveries:
// `crypto.createHmac('sha256', secret).update(rawBody, 'utf8').digest('base64')`).
//
// Run by tests/vectors/generate.sh (which installs the packages in a scratch directory); prints
// a JSON array of vectors on stdout. Each vector: provider, name, source, secrets (what the
// receiver is configured with), now (the receiver's clock, Unix seconds), headers, body, valid,
// secret_index (when valid).
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
const require = createRequire(process.cwd() + '/');
const Stripe = require('stripe');
const { sign, verify } = await import(process.cwd() + '/node_modules/@octokit/webhooks-methods/dist-node/index.js');

const stripe = new Stripe('sk_test_unused');
import fs from 'node:fs';
const version = (pkg) => JSON.parse(fs.readFileSync(`${process.cwd()}/node_modules/${pkg}/package.json`, 'utf8')).version;
const STRIPE_PKG = 'stripe-node ' + version('stripe');
const OCTOKIT_PKG = '@octokit/webhooks-methods ' + version('@octokit/webhooks-methods');
const out = [];

// ---- Stripe ----
const T = 1700000000;
const secretA = 'whsec_test_secret';
const secretB = 'whsec_rotated_2f9c1e7d4b';
const pi = JSON.stringify({
  id: 'evt_3OAbCdEfGhIjKlMn0', object: 'event', api_version: '2023-10-16', created: T,
  type: 'payment_intent.succeeded', livemode: false, pending_webhooks: 1,
  request: { id: 'req_8Xy7Wv6Ut5', idempotency_key: null },
  data: { object: { id: 'pi_3OAbCdEfGhIjKlMn', object: 'payment_intent', amount: 2000, currency: 'usd', status: 'succeeded' } },
}, null, 2);
const header = stripe.webhooks.generateTestHeaderString({ payload: pi, secret: secretA, timestamp: T });
stripe.webhooks.constructEvent(pi, header, secretA, 300, undefined, T * 1000); // throws if invalid
out.push({ provider: 'stripe', name: 'generateTestHeaderString', source: `${STRIPE_PKG}: stripe.webhooks.generateTestHeaderString({payload, secret, timestamp}); accepted by stripe.webhooks.constructEvent`,
  secrets: [secretA], now: T, headers: { 'stripe-signature': header }, body: pi, valid: true, secret_index: 0 });

// Rotation: Stripe sends one v1 per active secret (and a v0 we must ignore). Both entries
// made by stripe-node; the combined header accepted by constructEvent under either secret.
const sigA = header.split('v1=')[1];
const sigB = stripe.webhooks.generateTestHeaderString({ payload: pi, secret: secretB, timestamp: T }).split('v1=')[1];
const sigV0 = stripe.webhooks.generateTestHeaderString({ payload: pi, secret: secretA, timestamp: T, scheme: 'v0' }).split('v0=')[1];
const rotated = `t=${T},v1=${sigB},v1=${sigA},v0=${sigV0}`;
for (const s of [secretA, secretB]) stripe.webhooks.constructEvent(pi, rotated, s, 300, undefined, T * 1000);
out.push({ provider: 'stripe', name: 'rotation: two v1 entries, receiver has the new secret', source: `${STRIPE_PKG}: two generateTestHeaderString signatures joined as Stripe sends them during a secret roll; accepted by constructEvent under each secret`,
  secrets: [secretB], now: T, headers: { 'stripe-signature': rotated }, body: pi, valid: true, secret_index: 0 });
out.push({ provider: 'stripe', name: 'rotation: two v1 entries, receiver has an unrelated and the old secret', source: 'as above',
  secrets: ['whsec_unrelated', secretA], now: T, headers: { 'stripe-signature': rotated }, body: pi, valid: true, secret_index: 1 });
out.push({ provider: 'stripe', name: 'wrong secret', source: `${STRIPE_PKG}: generateTestHeaderString with another secret`,
  secrets: ['whsec_unrelated'], now: T, headers: { 'stripe-signature': header }, body: pi, valid: false });
const onlyV0 = `t=${T},v0=${sigV0}`;
let v0Rejected = false; try { stripe.webhooks.constructEvent(pi, onlyV0, secretA, 300, undefined, T * 1000); } catch { v0Rejected = true; }
if (!v0Rejected) throw new Error('stripe-node accepted a v0-only header');
out.push({ provider: 'stripe', name: 'only a v0 signature', source: `${STRIPE_PKG}: generateTestHeaderString({scheme: 'v0'}); rejected by constructEvent ("No signatures found with expected scheme")`,
  secrets: [secretA], now: T, headers: { 'stripe-signature': onlyV0 }, body: pi, valid: false });
const tampered = pi.replace('"amount": 2000', '"amount": 1');
let tamperedRejected = false; try { stripe.webhooks.constructEvent(tampered, header, secretA, 300, undefined, T * 1000); } catch { tamperedRejected = true; }
if (!tamperedRejected) throw new Error('stripe-node accepted a tampered body');
out.push({ provider: 'stripe', name: 'tampered body', source: `${STRIPE_PKG}: the first vector's header over an altered body; rejected by constructEvent`,
  secrets: [secretA], now: T, headers: { 'stripe-signature': header }, body: tampered, valid: false });
for (const [name, now] of [['301 s old', T + 301], ['301 s ahead', T - 301]]) {
  let rejected = false; try { stripe.webhooks.constructEvent(pi, header, secretA, 300, undefined, now * 1000); } catch { rejected = true; }
  out.push({ provider: 'stripe', name: `timestamp ${name}`, source: `${STRIPE_PKG}: the first vector received at ${now}; constructEvent(tolerance 300, receivedAt) ${rejected ? 'rejects it' : 'accepts it (stripe-node bounds only the age; this library rejects both directions, so that a future-dated signature cannot outlive the dedup window)'}`,
    secrets: [secretA], now, headers: { 'stripe-signature': header }, body: pi, valid: false });
}
out.push({ provider: 'stripe', name: 'timestamp 300 s old (at the tolerance)', source: `${STRIPE_PKG}: the first vector received at ${T + 300}; accepted by constructEvent(tolerance 300)`,
  secrets: [secretA], now: T + 300, headers: { 'stripe-signature': header }, body: pi, valid: true, secret_index: 0 });
stripe.webhooks.constructEvent(pi, header, secretA, 300, undefined, (T + 300) * 1000);

// ---- GitHub ----
const ghSecret = "It's a Secret to Everybody";
const docSig = await sign(ghSecret, 'Hello, World!');
if (docSig !== 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17') throw new Error('octokit disagrees with the GitHub docs');
out.push({ provider: 'github', name: 'documented example', source: 'https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation (secret, payload and signature as documented; also ' + OCTOKIT_PKG + ' sign())',
  secrets: [ghSecret], now: T, headers: { 'x-hub-signature-256': docSig, 'x-github-event': 'ping', 'x-github-delivery': '72d3162e-cc78-11e3-81ab-4c9367dc0958' }, body: 'Hello, World!', valid: true, secret_index: 0 });
const issues = JSON.stringify({ action: 'opened', issue: { number: 1347, title: 'Found a bug', state: 'open' }, repository: { id: 1296269, full_name: 'octocat/Hello-World' }, sender: { login: 'octocat' } });
const ghSig = await sign('github-webhook-secret', issues);
if (!(await verify('github-webhook-secret', issues, ghSig))) throw new Error('octokit verify');
out.push({ provider: 'github', name: 'issues.opened', source: `${OCTOKIT_PKG}: sign(secret, payload), checked with verify()`,
  secrets: ['old-secret', 'github-webhook-secret'], now: T, headers: { 'x-hub-signature-256': ghSig, 'x-github-event': 'issues', 'x-github-delivery': 'a1b2c3d4-0000-11ee-8000-000000000001' }, body: issues, valid: true, secret_index: 1 });
const ghTampered = issues.replace('"opened"', '"closed"');
if (await verify('github-webhook-secret', ghTampered, ghSig)) throw new Error('octokit accepted tampered');
out.push({ provider: 'github', name: 'tampered body', source: `${OCTOKIT_PKG}: the issues.opened signature over an altered body; rejected by verify()`,
  secrets: ['github-webhook-secret'], now: T, headers: { 'x-hub-signature-256': ghSig, 'x-github-event': 'issues', 'x-github-delivery': 'a1b2c3d4-0000-11ee-8000-000000000001' }, body: ghTampered, valid: false });

// ---- Shopify ----
const shopSecret = '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';
const order = JSON.stringify({ id: 820982911946154500, email: 'jon@example.com', total_price: '403.00', currency: 'USD', financial_status: 'paid', line_items: [{ id: 866550311766439000, title: 'IPod Nano - 8GB', quantity: 1, price: '199.00' }] });
// Shopify's documented snippet, verbatim in substance.
const shopHmac = crypto.createHmac('sha256', shopSecret).update(order, 'utf8').digest('base64');
const shopHeaders = { 'x-shopify-hmac-sha256': shopHmac, 'x-shopify-topic': 'orders/create', 'x-shopify-event-id': '98880550-7158-44d4-b7cd-2c97c8a091b5', 'x-shopify-webhook-id': 'b54557e4-bdd9-4b37-8a5f-bf7d70bcd043', 'x-shopify-shop-domain': 'example.myshopify.com', 'x-shopify-api-version': '2025-01', 'x-shopify-triggered-at': '2023-03-29T18:00:27.877041743Z' };
out.push({ provider: 'shopify', name: 'orders/create (Node snippet)', source: "https://shopify.dev/docs/apps/build/webhooks/verify-deliveries: Node.js crypto.createHmac('sha256', secret).update(body, 'utf8').digest('base64')",
  secrets: [shopSecret], now: T, headers: shopHeaders, body: order, valid: true, secret_index: 0 });
out.push({ provider: 'shopify', name: 'tampered body', source: 'the orders/create signature over an altered body',
  secrets: [shopSecret], now: T, headers: shopHeaders, body: order.replace('403.00', '0.01'), valid: false });
out.push({ provider: 'shopify', name: 'wrong secret', source: 'the orders/create signature, receiver configured with another secret',
  secrets: ['shpss_other'], now: T, headers: shopHeaders, body: order, valid: false });

process.stdout.write(JSON.stringify(out));
