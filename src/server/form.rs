//! Form bodies and query strings (`application/x-www-form-urlencoded`),
//! decoded once for every HTTP router on the port: Open311 and the
//! dashboard. A malformed one is `INVALID_ARGUMENT`.

use percent_encoding::percent_decode_str;

use crate::server::error::ServiceError;

/// Longest accepted form body or query string, in bytes: an Open311
/// description of the longest length the specification allows,
/// percent-encoded, plus the other fields.
pub const MAX_ENCODED_BYTES: usize = 64 * 1024;
/// Most parameters read from one form or query.
pub const MAX_PARAMS: usize = 64;

/// The decoded name/value pairs of a form body or query string, in order.
#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Decodes `encoded` (`a=1&b=x+y`); `+` is a space.
    pub fn parse(encoded: &str) -> Result<Params, ServiceError> {
        if encoded.len() > MAX_ENCODED_BYTES {
            return Err(ServiceError::invalid(
                "body",
                format!("longer than {MAX_ENCODED_BYTES} bytes"),
            ));
        }
        let decode = |raw: &str| {
            percent_decode_str(&raw.replace('+', " "))
                .decode_utf8()
                .map(|text| text.into_owned())
                .map_err(|_| ServiceError::invalid("body", "parameters must be UTF-8"))
        };
        let mut pairs = Vec::new();
        for pair in encoded.split('&').filter(|pair| !pair.is_empty()) {
            if pairs.len() == MAX_PARAMS {
                return Err(ServiceError::invalid(
                    "body",
                    format!("more than {MAX_PARAMS} parameters"),
                ));
            }
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            pairs.push((decode(name)?, decode(value)?));
        }
        Ok(Params(pairs))
    }

    /// The first non-empty value of `name`, trimmed.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.trim())
            .find(|value| !value.is_empty())
    }

    /// [`Params::get`], or `INVALID_ARGUMENT` naming `name`.
    pub fn required(&self, name: &'static str) -> Result<&str, ServiceError> {
        self.get(name)
            .ok_or_else(|| ServiceError::invalid(name, "required"))
    }
}
