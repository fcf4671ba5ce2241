//! Arbitrary bytes through Vertex AI's decoders: Gemini's response, stream
//! and error decoders, the `:predict` embeddings answer, and OAuth token errors.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchboard::providers::fuzzing::vertex(data));
