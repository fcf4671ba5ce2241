//! Entry points for the fuzz targets in `server/fuzz`: each feeds arbitrary
//! bytes to one provider's response, stream and error decoders (`openai` also
//! to the facade's request parser, which reads what clients send). Whatever
//! the bytes, a decoder must answer with a value or an error, never a panic.

use super::{EventDecoder, anthropic, bedrock, cohere, gemini, oauth, ollama, vertex};
use crate::openai_wire;

/// Feeds each line of `data` to a fresh stream decoder, then ends the stream.
fn stream_lines(data: &[u8], mut decoder: impl EventDecoder) {
    for line in String::from_utf8_lossy(data).lines() {
        if decoder.on_event(line).is_err() {
            return;
        }
    }
    decoder.on_end();
}

pub fn openai(data: &[u8]) {
    let _ = openai_wire::request::from_slice(data);
    let _ = openai_wire::response::from_slice(data);
    let _ = openai_wire::errors::parse_error_body(data);
    for line in String::from_utf8_lossy(data).lines() {
        let _ = openai_wire::stream::chunk_from_str(line);
    }
}

pub fn anthropic(data: &[u8]) {
    let _ = anthropic::response::from_slice(data, 0);
    let _ = anthropic::response::parse_error(data);
    stream_lines(
        data,
        anthropic::stream::StreamState::new("anthropic", true, 0),
    );
}

pub fn gemini(data: &[u8]) {
    let _ = gemini::response::from_slice(data, 0);
    let _ = gemini::response::parse_error(data);
    stream_lines(data, gemini::stream::StreamState::new("gemini", true, 0));
}

/// Vertex AI's chat decoders are Gemini's; its own are the `:predict`
/// embeddings answer and the token endpoint's errors.
pub fn vertex(data: &[u8]) {
    gemini(data);
    if let Ok(answer) = vertex::embeddings::answer_from_slice(data) {
        let _ = vertex::embeddings::response(vec![answer], "model");
    }
    let _ = oauth::parse_token_error(data);
}

pub fn cohere(data: &[u8]) {
    let _ = cohere::response::from_slice(data, "m", 0);
    stream_lines(
        data,
        cohere::stream::StreamState::new("cohere", "m", true, 0),
    );
}

pub fn ollama(data: &[u8]) {
    let _ = ollama::response::from_slice(data);
    stream_lines(data, ollama::stream::StreamState::new("ollama", true));
}

/// Also reads `data` as AWS event-stream bytes, in two pushes split at the
/// first byte's value, so both whole and split messages are tried.
pub fn bedrock(data: &[u8]) {
    let _ = bedrock::response::from_slice(data, String::new(), "m", 0);
    let _ = bedrock::response::parse_error(data);
    stream_lines(
        data,
        bedrock::stream::StreamState::new("bedrock", true, String::new(), "m", 0),
    );
    let split = data.first().map_or(0, |&b| usize::from(b).min(data.len()));
    let mut reader = bedrock::stream::FrameReader::new("bedrock");
    let mut decoder = bedrock::stream::StreamState::new("bedrock", true, String::new(), "m", 0);
    for piece in [&data[..split], &data[split..]] {
        reader.push(piece);
        while let Some(payload) = reader.next_payload() {
            match payload {
                Ok(payload) => {
                    let _ = decoder.on_event(&payload);
                }
                Err(_) => return,
            }
        }
    }
    let _ = reader.finish();
    decoder.on_end();
}

#[cfg(test)]
mod tests {
    /// The entry points run on the recorded fixtures and on junk.
    #[test]
    fn entry_points_take_any_bytes() {
        let recorded = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../conformance/fixtures/upstream/bedrock/stream__converse-stream-nova-text.response.eventstream"
        ))
        .expect("fixture");
        for data in [
            &recorded[..],
            b"",
            b"\xff\x00{",
            br#"{"choices":[{"delta":{"tool_calls":[{}]}}]}"#,
        ] {
            super::openai(data);
            super::anthropic(data);
            super::gemini(data);
            super::vertex(data);
            super::cohere(data);
            super::ollama(data);
            super::bedrock(data);
        }
    }
}
