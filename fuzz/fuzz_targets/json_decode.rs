//! `JsonFormat::<serde_json::Value>::new()`: any body decodes or is rejected, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webhook_receiver::Format;
use webhook_receiver::json::JsonFormat;

fuzz_target!(|data: &[u8]| {
    let format = JsonFormat::<serde_json::Value>::new();
    let headers = http::HeaderMap::new();
    match format.decode(&headers, data) {
        Ok(decoded) => {
            let key = decoded.key();
            let _ = (decoded.event_name(), decoded.id());
            let _ = format!("{:?}", decoded.received());
            let again = format
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
