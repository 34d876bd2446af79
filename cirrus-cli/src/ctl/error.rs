//! `cirrusctl`'s own errors: what the API answered (through the client),
//! and the mistakes that never reach it (bad input, unreadable files). One
//! line for people, or `{"error": {...}}` for scripts, on stderr; invalid
//! fields named by the flag that set them, not by the API's field path.

use super::{EXIT_AUTH, EXIT_BUSY, EXIT_FAILURE, EXIT_INVALID, EXIT_NOT_FOUND, EXIT_UNAVAILABLE};
use cirrus_client::Error as ClientError;

/// Why a `cirrusctl` command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CtlError {
    /// The API refused the call, or could not be reached.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The command line's input is wrong (exit 5, like the API's refusals).
    #[error("{0}")]
    Input(String),
    /// A file or stdin could not be read (exit 1).
    #[error("{what}: {source}")]
    File {
        /// The file (or `stdin`).
        what: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The command ran but did not get what it waited for (exit 1).
    #[error("{0}")]
    Failed(String),
}

/// API field paths and the flags that set them, for one command.
pub(crate) type FlagNames = &'static [(&'static str, &'static str)];

impl CtlError {
    /// The documented exit code.
    pub(crate) fn exit_code(&self) -> i32 {
        match self {
            CtlError::Client(ClientError::Api { status, .. }) => match status {
                401 | 403 => EXIT_AUTH,
                404 => EXIT_NOT_FOUND,
                409 | 412 | 429 => EXIT_BUSY,
                500.. => EXIT_UNAVAILABLE,
                _ => EXIT_INVALID,
            },
            CtlError::Client(ClientError::Transport { .. }) => EXIT_UNAVAILABLE,
            CtlError::Input(_) => EXIT_INVALID,
            CtlError::Client(_) | CtlError::File { .. } | CtlError::Failed(_) => EXIT_FAILURE,
        }
    }

    /// The error's code, message and fields (fields named by `flags`).
    fn parts(&self, flags: FlagNames, token_given: bool) -> (String, String, Vec<(String, String)>) {
        match self {
            CtlError::Client(ClientError::Api {
                status,
                code,
                message,
                details,
                ..
            }) => {
                let fields: Vec<(String, String)> = details
                    .iter()
                    .map(|d| (flag_of(&d.field, flags), d.reason.clone()))
                    .collect();
                let message = if *status == 401 && !token_given {
                    "no token: set CIRRUS_TOKEN or pass --token".to_string()
                } else if fields.is_empty() {
                    message.clone()
                } else {
                    // The message repeats the fields; say them once.
                    format!("{} ({status})", message.split(':').next().unwrap_or(message))
                };
                (code.clone(), message, fields)
            }
            CtlError::Client(ClientError::Transport { .. }) => ("unreachable".into(), self.to_string(), Vec::new()),
            CtlError::Client(other) => ("client".into(), other.to_string(), Vec::new()),
            CtlError::Input(m) => ("invalid_input".into(), m.clone(), Vec::new()),
            CtlError::File { .. } => ("file".into(), self.to_string(), Vec::new()),
            CtlError::Failed(m) => ("failed".into(), m.clone(), Vec::new()),
        }
    }

    /// One line for people: the message, then each field and its reason.
    pub(crate) fn line(&self, flags: FlagNames, token_given: bool) -> String {
        let (_, message, fields) = self.parts(flags, token_given);
        let mut line = message;
        for (field, reason) in fields {
            line.push_str(&format!("; {field}: {reason}"));
        }
        line.replace(['\n', '\r'], " ")
    }

    /// The same as JSON, in the API's error shape, for `-o json`.
    pub(crate) fn json(&self, flags: FlagNames, token_given: bool) -> serde_json::Value {
        let (code, message, fields) = self.parts(flags, token_given);
        let details: Vec<serde_json::Value> = fields
            .into_iter()
            .map(|(field, reason)| serde_json::json!({"field": field, "reason": reason}))
            .collect();
        let mut error = serde_json::json!({"code": code, "message": message, "details": details});
        if let CtlError::Client(ClientError::Api { status, request_id, .. }) = self {
            error["status"] = (*status).into();
            if let Some(id) = request_id {
                error["request_id"] = id.clone().into();
            }
        }
        serde_json::json!({ "error": error })
    }
}

/// `urls[2]` → `--path #3` when `flags` maps `urls` to `--path`; a field
/// with no flag keeps its path.
/// A field inside an element (`origins[0].weight`, from a file) keeps its
/// path: no flag sets it.
fn flag_of(field: &str, flags: FlagNames) -> String {
    let (base, index) = match field.split_once('[') {
        Some((base, rest)) => match rest.strip_suffix(']').and_then(|i| i.parse::<usize>().ok()) {
            Some(i) => (base, Some(i)),
            None => return field.to_string(),
        },
        None => (field, None),
    };
    match flags.iter().find(|(f, _)| *f == base || *f == field) {
        Some((_, flag)) => match index {
            Some(i) => format!("{flag} #{}", i + 1),
            None => (*flag).to_string(),
        },
        None => field.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cirrus_core::model::FieldError;

    fn refused(status: u16, message: &str, fields: &[(&str, &str)]) -> CtlError {
        let details = fields
            .iter()
            .map(|(f, r)| {
                serde_json::from_value::<FieldError>(serde_json::json!({"field": f, "reason": r}))
                    .expect("a field error")
            })
            .collect();
        CtlError::Client(ClientError::Api {
            status,
            code: "invalid_input".into(),
            message: message.into(),
            details,
            request_id: Some("r1".into()),
        })
    }

    const PURGE: FlagNames = &[("urls", "--path"), ("prefixes", "--prefix")];

    #[test]
    fn fields_are_named_by_their_flags_and_said_once() {
        let e = refused(
            422,
            "invalid input: urls[0]: bad",
            &[("urls[0]", "bad"), ("colour", "unknown")],
        );
        assert_eq!(
            e.line(PURGE, true),
            "invalid input (422); --path #1: bad; colour: unknown"
        );
        let json = e.json(PURGE, true);
        assert_eq!(json["error"]["details"][0]["field"], "--path #1");
        assert_eq!(json["error"]["status"], 422);
        assert_eq!(e.exit_code(), EXIT_INVALID);
    }

    #[test]
    fn local_mistakes_exit_5_and_a_missing_token_says_so() {
        assert_eq!(CtlError::Input("give --origin".into()).exit_code(), EXIT_INVALID);
        let missing = CtlError::File {
            what: "x".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert_eq!(missing.to_string(), "x: entity not found");
        assert!(std::error::Error::source(&missing).is_some(), "the cause is kept");
        assert_eq!(missing.exit_code(), EXIT_FAILURE);
        let e = refused(401, "authentication required", &[]);
        assert!(e.line(&[], false).starts_with("no token"));
        assert_eq!(e.line(&[], true), "authentication required");
    }
}
