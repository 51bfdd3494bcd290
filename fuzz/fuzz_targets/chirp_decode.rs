//! The Chirp envelope decoder and its typed events: any body either decodes or is rejected,
//! never panics; a decoded event's dedup key is the same on every decode of the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webhook_receiver::Format;
use webhook_receiver::chirp::Chirp;

fuzz_target!(|data: &[u8]| {
    let headers = http::HeaderMap::new();
    match Chirp.decode(&headers, data) {
        Ok(decoded) => {
            let key = decoded.key();
            let _ = decoded.event_name();
            let _ = format!("{:?}", decoded.received());
            let again = Chirp
                .decode(&headers, data)
                .expect("the same bytes decoded once, then failed");
            assert_eq!(again.key(), key, "dedup key differs between two decodes");
        }
        Err(rejection) => {
            let _ = rejection.status();
            let _ = rejection.to_string();
        }
    }
});
