//! Free text in commands: the limits and the checks both aggregates apply.
//!
//! Rules, the same for complaints and ledgers:
//!
//! - Lengths are counted in characters (Unicode scalar values), not bytes,
//!   so a limit means the same for Chinese and Latin text.
//! - A required text must hold something other than whitespace; the error
//!   reason is `required`.
//! - A text longer than its limit is refused with `longer than N
//!   characters`.
//! - Control characters are refused (`contains control characters`), except
//!   line feed, carriage return and tab, which prose may hold.
//! - A list of texts (evidence references, tags) is refused when it has more
//!   entries than its limit (`more than N <what>`); otherwise each entry is
//!   a required text with the entry limit.
//!
//! Errors are [`DomainError::Invalid`] naming the command's field, so the
//! service reports them as `INVALID_ARGUMENT` on that field.

use crate::DomainError;

/// Longest complaint title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest complaint text (the citizen's full account), in characters.
pub const MAX_COMPLAINT_TEXT_CHARS: usize = 10_000;
/// Longest submitter name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest phone number or ID number, in characters.
pub const MAX_PHONE_CHARS: usize = 32;
/// Longest enterprise name, location, external reference, routing rule or
/// ledger link id on a complaint, in characters.
pub const MAX_SHORT_TEXT_CHARS: usize = 200;
/// Longest reason, note, description, result or finding on a complaint, in
/// characters.
pub const MAX_NOTE_CHARS: usize = 2_000;
/// Longest text on a ledger — its title, an item's problem and measures, a
/// progress note, a reason, a verifier, a note — in characters: a paragraph,
/// like a complaint's note.
pub const MAX_LEDGER_TEXT_CHARS: usize = MAX_NOTE_CHARS;
/// Most evidence references on one step, of a complaint or a ledger item.
pub const MAX_EVIDENCE_REFS: usize = 20;
/// Longest evidence reference (a file or document reference), in characters.
pub const MAX_EVIDENCE_CHARS: usize = 256;
/// Most tags on a complaint.
pub const MAX_TAGS: usize = 20;
/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 32;

/// Whether `c` is a control character prose may not hold: any but line feed,
/// carriage return and tab.
fn is_forbidden_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\n' | '\t' | '\r')
}

/// Checks a required text: not blank, at most `max` characters, no control
/// characters but `\n`, `\r` and `\t`.
pub fn required(field: &'static str, value: &str, max: usize) -> Result<(), DomainError> {
    if value.trim().is_empty() {
        return Err(DomainError::Invalid {
            field,
            reason: "required".to_owned(),
        });
    }
    optional(field, Some(value), max)
}

/// Checks an optional text: when present (blank is allowed), at most `max`
/// characters and no control characters but `\n`, `\r` and `\t`.
pub fn optional(field: &'static str, value: Option<&str>, max: usize) -> Result<(), DomainError> {
    let Some(value) = value else {
        return Ok(());
    };
    if value.chars().count() > max {
        return Err(DomainError::Invalid {
            field,
            reason: format!("longer than {max} characters"),
        });
    }
    if value.chars().any(is_forbidden_control) {
        return Err(DomainError::Invalid {
            field,
            reason: "contains control characters".to_owned(),
        });
    }
    Ok(())
}

/// Checks a list of texts: at most `max_entries` entries (the error says
/// `more than {max_entries} {what}`), each a required text of at most
/// `max_chars` characters.
pub fn list(
    field: &'static str,
    entries: &[String],
    max_entries: usize,
    what: &str,
    max_chars: usize,
) -> Result<(), DomainError> {
    if entries.len() > max_entries {
        return Err(DomainError::Invalid {
            field,
            reason: format!("more than {max_entries} {what}"),
        });
    }
    entries
        .iter()
        .try_for_each(|entry| required(field, entry, max_chars))
}

/// Checks evidence references: at most [`MAX_EVIDENCE_REFS`], each a
/// required text of at most [`MAX_EVIDENCE_CHARS`] characters. An empty list
/// passes; a step that needs evidence checks that itself.
pub fn evidence(field: &'static str, refs: &[String]) -> Result<(), DomainError> {
    list(
        field,
        refs,
        MAX_EVIDENCE_REFS,
        "references",
        MAX_EVIDENCE_CHARS,
    )
}

/// Checks tags: at most [`MAX_TAGS`], each a required text of at most
/// [`MAX_TAG_CHARS`] characters.
pub fn tags(field: &'static str, tags: &[String]) -> Result<(), DomainError> {
    list(field, tags, MAX_TAGS, "tags", MAX_TAG_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(field: &'static str, reason: &str) -> Result<(), DomainError> {
        Err(DomainError::Invalid {
            field,
            reason: reason.to_owned(),
        })
    }

    #[test]
    fn required_text_is_not_blank_not_too_long_and_has_no_control_characters() {
        assert_eq!(required("title", "用电报装", 4), Ok(()));
        assert_eq!(required("title", " \n\t", 4), invalid("title", "required"));
        assert_eq!(
            required("title", "用电报装慢", 4),
            invalid("title", "longer than 4 characters")
        );
        assert_eq!(
            required("title", "a\u{0}b", 4),
            invalid("title", "contains control characters")
        );
        assert_eq!(
            required("title", "a\u{1b}", 4),
            invalid("title", "contains control characters")
        );
    }

    #[test]
    fn prose_may_hold_line_breaks_and_tabs() {
        assert_eq!(optional("note", Some("一\r\n二\t三"), 10), Ok(()));
    }

    #[test]
    fn optional_text_may_be_absent_or_blank() {
        assert_eq!(optional("note", None, 4), Ok(()));
        assert_eq!(optional("note", Some(""), 4), Ok(()));
        assert_eq!(
            optional("note", Some("12345"), 4),
            invalid("note", "longer than 4 characters")
        );
        assert_eq!(
            optional("note", Some("\u{7f}"), 4),
            invalid("note", "contains control characters")
        );
    }

    #[test]
    fn lists_limit_their_entries_and_check_each() {
        let refs = |n: usize| vec!["photo".to_owned(); n];
        assert_eq!(evidence("evidence", &[]), Ok(()));
        assert_eq!(evidence("evidence", &refs(MAX_EVIDENCE_REFS)), Ok(()));
        assert_eq!(
            evidence("evidence", &refs(MAX_EVIDENCE_REFS + 1)),
            invalid("evidence", "more than 20 references")
        );
        assert_eq!(
            evidence("evidence", &["photo".to_owned(), " ".to_owned()]),
            invalid("evidence", "required")
        );
        assert_eq!(
            evidence("evidence", &["x".repeat(MAX_EVIDENCE_CHARS + 1)]),
            invalid("evidence", "longer than 256 characters")
        );
        assert_eq!(
            tags("tags", &vec!["用电".to_owned(); MAX_TAGS + 1]),
            invalid("tags", "more than 20 tags")
        );
    }
}
