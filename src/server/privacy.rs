//! The personal-data rule in one place: who sees a submitter in clear,
//! how a submitter is masked for everyone else, and how the sealed
//! submitter of a complaint is opened in memory for a reply.
//!
//! Only sealed tokens reach the log (see [`crate::server::vault`]); replies
//! open them here and show them in clear to the hotline, the dispatch
//! centre, admins and the units assigned to the complaint. Everyone else
//! gets a mask: 王** for a name, 138****5678 for a phone (first three and
//! last four digits), the last four characters of an ID number.

use rectify_domain::{
    Actor, Role,
    complaint::{self, ComplaintState},
};
use rectify_eventlog::{EventStore as _, RecordedEvent};

use crate::{
    pb,
    server::{
        aggregates::ComplaintAggregate, app::Aggregate as _, error::ServiceError, state::AppState,
    },
};

/// Opens the sealed submitter of a loaded complaint into its state (a
/// no-op when it is in clear, absent or erased).
pub async fn reveal(
    state: &AppState,
    stream: &str,
    complaint: &mut ComplaintState,
) -> Result<(), ServiceError> {
    if complaint.submitter().is_some() {
        return Ok(());
    }
    let Some(token) = complaint.sealed_submitter() else {
        return Ok(());
    };
    if let Some(submitter) = open_sealed(state, stream, token).await? {
        complaint.reveal_submitter(submitter);
    }
    Ok(())
}

/// The submitter of a stored `ComplaintReceived` event, opened if sealed;
/// `None` for other events and once the data is erased.
pub async fn received_submitter(
    state: &AppState,
    event: &RecordedEvent,
) -> Result<Option<complaint::Submitter>, ServiceError> {
    if event.event_type != "ComplaintReceived" {
        return Ok(None);
    }
    let decoded = ComplaintAggregate::decode(event)?;
    let complaint::ComplaintEvent::ComplaintReceived { submission, .. } = decoded else {
        return Ok(None);
    };
    match (submission.submitter, submission.sealed_submitter) {
        (Some(clear), _) => Ok(Some(clear)),
        (None, Some(token)) => open_sealed(state, &event.stream, &token).await,
        (None, None) => Ok(None),
    }
}

async fn open_sealed(
    state: &AppState,
    stream: &str,
    token: &str,
) -> Result<Option<complaint::Submitter>, ServiceError> {
    let secret = state
        .store
        .stream_secret(stream)
        .await
        .map_err(ServiceError::from)?;
    state
        .vault
        .open(stream, secret.as_deref(), token)
        .map_err(|e| ServiceError::Internal(format!("opening the personal data of {stream}: {e}")))
}

/// Whether `actor` may see the submitter's personal data on `state`.
pub fn sees_personal_data(actor: &Actor, state: &ComplaintState) -> bool {
    match &actor.role {
        Role::Hotline | Role::Dispatcher | Role::Admin => true,
        Role::Unit(unit) => state.is_assigned(unit),
        // An experience officer sees their own report's submitter: themselves.
        Role::Officer => state
            .officer()
            .is_some_and(|officer| officer == actor.principal),
        Role::Portal | Role::Supervisor | Role::Liaison | Role::System => false,
    }
}

/// Whether a log reader in `actor`'s role sees personal data (hotline,
/// dispatcher, admin).
pub fn log_reader_sees_personal_data(actor: &rectify_domain::Actor) -> bool {
    use rectify_domain::Role;
    matches!(actor.role, Role::Hotline | Role::Dispatcher | Role::Admin)
}

/// 138****5678: keeps the first three and last four characters.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() <= 7 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

/// 王**: keeps the family name (the first character).
pub fn mask_name(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => format!("{first}{}", "*".repeat(chars.count().max(1))),
        None => String::new(),
    }
}

/// Keeps only the last four characters of an ID number.
pub fn mask_id_number(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    let keep = chars.len().min(4);
    format!(
        "{}{}",
        "*".repeat(chars.len() - keep),
        chars[chars.len() - keep..].iter().collect::<String>()
    )
}

/// The submitter as a reply shows it: in clear when `personal_data`,
/// masked otherwise.
pub fn shown_submitter(submitter: &complaint::Submitter, personal_data: bool) -> pb::Submitter {
    if personal_data {
        pb::Submitter {
            name: submitter.name.clone(),
            phone: submitter.phone.clone(),
            id_number: submitter.id_number.clone().unwrap_or_default(),
        }
    } else {
        pb::Submitter {
            name: mask_name(&submitter.name),
            phone: mask_phone(&submitter.phone),
            id_number: submitter
                .id_number
                .as_deref()
                .map(mask_id_number)
                .unwrap_or_default(),
        }
    }
}

/// The folded state as JSON for a reply: the sealed token removed, the
/// submitter masked unless `personal_data`.
pub fn state_json(state: &ComplaintState, personal_data: bool) -> String {
    serde_json::to_value(state)
        .map(|mut value| {
            if let Some(submission) = value
                .get_mut("submission")
                .and_then(serde_json::Value::as_object_mut)
            {
                submission.remove("sealed_submitter");
                if !personal_data && let Some(submitter) = submission.get_mut("submitter") {
                    *submitter = serde_json::Value::String("(masked)".to_owned());
                }
            }
            value.to_string()
        })
        .unwrap_or_default()
}

/// A `ComplaintReceived` payload for a reply: the sealed token removed and
/// the submitter (opened by the caller; `None` when erased) shown in clear or
/// masked. Other payloads are returned as stored.
pub fn reply_payload(
    event_type: &str,
    payload: &[u8],
    submitter: Option<&complaint::Submitter>,
    personal_data: bool,
) -> String {
    if event_type != "ComplaintReceived" {
        return String::from_utf8_lossy(payload).into_owned();
    }
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(payload) else {
        return "(undecodable)".to_owned();
    };
    if let Some(submission) = value
        .get_mut("submission")
        .and_then(serde_json::Value::as_object_mut)
    {
        submission.remove("sealed_submitter");
        match submitter {
            Some(submitter) => {
                let shown = shown_submitter(submitter, personal_data);
                submission.insert(
                    "submitter".to_owned(),
                    serde_json::json!({
                        "name": shown.name,
                        "phone": shown.phone,
                        "id_number": (!shown.id_number.is_empty()).then_some(shown.id_number),
                    }),
                );
            }
            None => {
                submission.remove("submitter");
            }
        }
    }
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_only_what_identifies_nobody() {
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("12345"), "*****");
        assert_eq!(mask_name("王小明"), "王**");
        assert_eq!(mask_name("王"), "王*");
        assert_eq!(mask_id_number("150602199001011234"), "**************1234");
    }

    #[test]
    fn received_payload_shows_the_opened_submitter_masked_or_clear_and_never_the_token() {
        let payload = r#"{"at":"2026-01-01T00:00:00Z","submission":{"id":"c1","sealed_submitter":"s1.abc","title":"t"}}"#.as_bytes();
        let submitter = complaint::Submitter {
            name: "王小明".into(),
            phone: "13812345678".into(),
            id_number: None,
        };
        let masked = reply_payload("ComplaintReceived", payload, Some(&submitter), false);
        assert!(masked.contains("138****5678"), "{masked}");
        assert!(!masked.contains("13812345678"), "{masked}");
        assert!(!masked.contains("小明"), "{masked}");
        assert!(!masked.contains("s1.abc"), "{masked}");
        let clear = reply_payload("ComplaintReceived", payload, Some(&submitter), true);
        assert!(clear.contains("13812345678"), "{clear}");
        let erased = reply_payload("ComplaintReceived", payload, None, true);
        assert!(!erased.contains("submitter"), "{erased}");
        // A version-1 payload held the submitter in clear: it is replaced too.
        let old = r#"{"submission":{"submitter":{"name":"李四","phone":"13900001111"}}}"#;
        let shown = reply_payload("ComplaintReceived", old.as_bytes(), None, false);
        assert!(!shown.contains("13900001111"), "{shown}");
    }
}
