#![no_main]
//! Continuation tokens: decoded into a token that encodes back to the same token, or refused.
use libfuzzer_sys::fuzz_target;

use ecs_deployer::token::Token;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(token) = Token::decode(text) {
            if let Ok(again) = token.encode() {
                assert_eq!(Token::decode(&again).unwrap(), token);
            }
        }
    }
});
