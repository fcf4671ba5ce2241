//! Arbitrary bytes through the facade's request parser and openai's response, stream and error decoders.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchboard::providers::fuzzing::openai(data));
