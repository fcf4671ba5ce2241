//! Arbitrary bytes through gemini's response, stream and error decoders.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchboard::providers::fuzzing::gemini(data));
