//! `SharedSecret`: the `X-Webhook-Secret` header value comes from the input. Verification
//! never panics and accepts exactly the configured secrets, sent once.
//!
//! Input: one flags byte (bit 0: send the header twice, bit 1: use the custom header
//! `X-Chirp-Token`), then the header value.
#![no_main]

use std::sync::Arc;

use http::{HeaderValue, Request};
use libfuzzer_sys::fuzz_target;
use webhook_receiver::verify::{SharedSecret, VerifyRequest};

const SECRETS: [&str; 2] = ["secret-2025", "s3cr3t"];

fuzz_target!(|data: &[u8]| {
    let Some((&flags, value)) = data.split_first() else {
        return;
    };
    let scheme = if flags & 2 != 0 {
        SharedSecret::with_header("X-Chirp-Token", SECRETS).unwrap()
    } else {
        SharedSecret::new(SECRETS).unwrap()
    };
    let Ok(header) = HeaderValue::from_bytes(value) else {
        return;
    };
    let mut request = Request::post("/");
    let headers = request.headers_mut().unwrap();
    if flags & 1 != 0 {
        headers.append(scheme.header_name(), header.clone());
    }
    headers.append(scheme.header_name(), header);
    let request = request.body(()).unwrap();

    let expected = SECRETS.iter().position(|s| s.as_bytes() == value);
    assert_eq!(scheme.check(value), expected);
    let scheme = Arc::new(scheme);
    let result = futures_executor::block_on(scheme.verify(request, 1 << 20));
    match (result, expected) {
        (Ok(request), Some(index)) if flags & 1 == 0 => {
            let verified = request
                .extensions()
                .get::<webhook_receiver::verify::Verified>()
                .expect("accepted without a Verified extension");
            assert_eq!(verified.secret_index(), index);
        }
        (Ok(_), _) => panic!("accepted {value:?} (flags {flags})"),
        (Err(_), Some(_)) if flags & 1 == 0 => panic!("rejected a configured secret"),
        (Err(_), _) => {}
    }
});
