//! What a native provider API cannot express. Each adapter declares its gaps
//! as data, with the reason the caller is told, and refuses a request that
//! uses one before translating it, so nothing a client asked for is dropped.

use crate::error::GatewayError;
use crate::pb::{ChatRequest, ToolChoiceMode, response_format, tool_choice};

/// For each request feature a provider lacks, why; `None` where it has it.
pub struct Gaps {
    /// `n` above 1.
    pub choices: Option<&'static str>,
    pub seed: Option<&'static str>,
    /// A non-zero `presence_penalty` or `frequency_penalty` (SDKs send zeros
    /// by default, which ask for nothing).
    pub penalties: Option<&'static str>,
    /// `parallel_tool_calls: false`.
    pub serial_tool_calls: Option<&'static str>,
    /// `tool_choice` `required` or a named function.
    pub forced_tool_call: Option<&'static str>,
    pub user: Option<&'static str>,
    pub metadata: Option<&'static str>,
    /// `response_format: json_object`.
    pub json_mode: Option<&'static str>,
}

impl Gaps {
    /// A provider that can express every feature checked here.
    pub const NONE: Gaps = Gaps {
        choices: None,
        seed: None,
        penalties: None,
        serial_tool_calls: None,
        forced_tool_call: None,
        user: None,
        metadata: None,
        json_mode: None,
    };

    /// Refuses the first feature `request` uses that `provider` lacks.
    pub fn check(&self, provider: &str, request: &ChatRequest) -> Result<(), GatewayError> {
        let nonzero = |penalty: Option<f64>| penalty.is_some_and(|p| p != 0.0);
        let json_mode = matches!(
            request
                .response_format
                .as_ref()
                .and_then(|f| f.format.as_ref()),
            Some(response_format::Format::JsonObject(_))
        );
        let features = [
            (self.choices, "n", request.n.is_some_and(|n| n > 1)),
            (self.seed, "seed", request.seed.is_some()),
            (
                self.penalties,
                "presence_penalty",
                nonzero(request.presence_penalty),
            ),
            (
                self.penalties,
                "frequency_penalty",
                nonzero(request.frequency_penalty),
            ),
            (
                self.serial_tool_calls,
                "parallel_tool_calls",
                request.parallel_tool_calls == Some(false),
            ),
            (self.forced_tool_call, "tool_choice", forces_a_call(request)),
            (self.user, "user", !request.user.is_empty()),
            (self.metadata, "metadata", !request.metadata.is_empty()),
            (self.json_mode, "response_format", json_mode),
        ];
        for (lacking, param, used) in features {
            if let (Some(why), true) = (lacking, used) {
                return Err(GatewayError::not_supported_by(provider, param, why));
            }
        }
        Ok(())
    }
}

/// A `tool_choice` that asks for a call (`required`, or a named function)
/// needs tools to call; a native API without tools has nowhere to put it,
/// so it is refused rather than dropped (OpenAI refuses it too).
pub fn check_tool_choice_has_tools(request: &ChatRequest) -> Result<(), GatewayError> {
    if forces_a_call(request) && request.tools.is_empty() {
        return Err(GatewayError::invalid(
            "tool_choice",
            "requires `tools` to be set",
        ));
    }
    Ok(())
}

/// Whether `tool_choice` asks for a call: `required`, or a named function.
fn forces_a_call(request: &ChatRequest) -> bool {
    match request.tool_choice.as_ref().and_then(|c| c.choice.as_ref()) {
        Some(tool_choice::Choice::Mode(mode)) => *mode == ToolChoiceMode::Required as i32,
        Some(tool_choice::Choice::FunctionName(_)) => true,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::{ResponseFormat, ToolChoice};

    const LACKS_ALL: Gaps = Gaps {
        choices: Some("one choice"),
        seed: Some("no seed"),
        penalties: Some("no penalties"),
        serial_tool_calls: Some("always parallel"),
        forced_tool_call: Some("auto or none"),
        user: Some("no user"),
        metadata: Some("no metadata"),
        json_mode: Some("schema only"),
    };

    fn refused(gaps: &Gaps, request: &ChatRequest) -> Option<(String, String)> {
        match gaps.check("acme", request) {
            Ok(()) => None,
            Err(GatewayError::Unsupported { message, param }) => {
                Some((param.expect("param"), message))
            }
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }

    fn request(set: impl FnOnce(&mut ChatRequest)) -> ChatRequest {
        let mut request = ChatRequest::default();
        set(&mut request);
        request
    }

    #[test]
    fn each_feature_is_refused_with_its_reason_only_where_lacking() {
        let forced = |choice| {
            Some(ToolChoice {
                choice: Some(choice),
            })
        };
        let cases = [
            ("n", "one choice", request(|r| r.n = Some(2))),
            ("seed", "no seed", request(|r| r.seed = Some(7))),
            (
                "presence_penalty",
                "no penalties",
                request(|r| r.presence_penalty = Some(0.5)),
            ),
            (
                "frequency_penalty",
                "no penalties",
                request(|r| r.frequency_penalty = Some(-1.0)),
            ),
            (
                "parallel_tool_calls",
                "always parallel",
                request(|r| r.parallel_tool_calls = Some(false)),
            ),
            (
                "tool_choice",
                "auto or none",
                request(|r| {
                    r.tool_choice =
                        forced(tool_choice::Choice::Mode(ToolChoiceMode::Required as i32))
                }),
            ),
            (
                "tool_choice",
                "auto or none",
                request(|r| {
                    r.tool_choice = forced(tool_choice::Choice::FunctionName("lookup".into()))
                }),
            ),
            ("user", "no user", request(|r| r.user = "u-1".into())),
            (
                "metadata",
                "no metadata",
                request(|r| r.metadata = [("k".into(), "v".into())].into()),
            ),
            (
                "response_format",
                "schema only",
                request(|r| {
                    r.response_format = Some(ResponseFormat {
                        format: Some(response_format::Format::JsonObject(Default::default())),
                    })
                }),
            ),
        ];
        for (param, why, request) in cases {
            let expected = format!("`{param}`: acme does not support `{param}`: {why}");
            assert_eq!(
                refused(&LACKS_ALL, &request),
                Some((param.to_owned(), expected))
            );
            assert_eq!(refused(&Gaps::NONE, &request), None, "{param}");
        }
    }

    #[test]
    fn defaults_and_harmless_values_pass() {
        let harmless = ChatRequest {
            n: Some(1),
            presence_penalty: Some(0.0),
            frequency_penalty: Some(0.0),
            parallel_tool_calls: Some(true),
            tool_choice: Some(ToolChoice {
                choice: Some(tool_choice::Choice::Mode(ToolChoiceMode::Auto as i32)),
            }),
            ..Default::default()
        };
        assert_eq!(refused(&LACKS_ALL, &harmless), None);
        assert_eq!(refused(&LACKS_ALL, &ChatRequest::default()), None);
    }
}
