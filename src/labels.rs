//! Chinese names beside the wire's codes, as the dispatch centre says them:
//! one table for the dashboard and the CLI, so both name a status or a
//! channel alike.

use crate::pb;

/// Statuses of open complaints, in lifecycle order, with their Chinese
/// names.
pub const OPEN_STATUSES: &[(pb::ComplaintStatus, &str)] = &[
    (pb::ComplaintStatus::Received, "受理"),
    (pb::ComplaintStatus::AwaitingDispatch, "待派"),
    (pb::ComplaintStatus::Dispatched, "已派"),
    (pb::ComplaintStatus::InProgress, "处办"),
    (pb::ComplaintStatus::Resolved, "已办结"),
    (pb::ComplaintStatus::Verified, "已核查"),
    (pb::ComplaintStatus::CalledBack, "已回访"),
];

/// Intake channels with their Chinese names.
pub const CHANNELS: &[(pb::Channel, &str)] = &[
    (pb::Channel::Hotline12345, "12345热线"),
    (pb::Channel::MengsubanApp, "蒙速办"),
    (pb::Channel::Wechat, "微信"),
    (pb::Channel::WebPortal, "网站"),
    (pb::Channel::QrCode, "二维码"),
    (pb::Channel::ExperienceOfficer, "体验官"),
    (pb::Channel::SupervisionInspection, "督查"),
    (pb::Channel::Other, "其他"),
];

/// `in_progress` for `COMPLAINT_STATUS_IN_PROGRESS`.
pub fn status_code(status: pb::ComplaintStatus) -> String {
    status
        .as_str_name()
        .trim_start_matches("COMPLAINT_STATUS_")
        .to_lowercase()
}

/// The status for its short code, `closed` included.
pub fn status_from_code(code: &str) -> Option<pb::ComplaintStatus> {
    pb::ComplaintStatus::from_str_name(&format!("COMPLAINT_STATUS_{}", code.to_ascii_uppercase()))
        .filter(|s| *s != pb::ComplaintStatus::Unspecified)
}

/// 处办 for `IN_PROGRESS`, 销号 for `CLOSED`.
pub fn status_label(status: pb::ComplaintStatus) -> &'static str {
    match status {
        pb::ComplaintStatus::Closed => "销号",
        other => OPEN_STATUSES
            .iter()
            .find(|(s, _)| *s == other)
            .map_or("未知", |(_, label)| label),
    }
}

/// `wechat` for `CHANNEL_WECHAT`.
pub fn channel_code(channel: pb::Channel) -> String {
    channel
        .as_str_name()
        .trim_start_matches("CHANNEL_")
        .to_lowercase()
}

/// 微信 for `CHANNEL_WECHAT`.
pub fn channel_label(channel: pb::Channel) -> &'static str {
    CHANNELS
        .iter()
        .find(|(c, _)| *c == channel)
        .map_or("未知", |(_, label)| label)
}

/// The Chinese name of a deadline's milestone.
pub fn milestone_label(milestone: i32) -> &'static str {
    match pb::Milestone::try_from(milestone).unwrap_or_default() {
        pb::Milestone::Dispatch => "转派",
        pb::Milestone::Accept => "签收",
        pb::Milestone::FirstContact => "首次联系",
        pb::Milestone::Resolve => "办结",
        pb::Milestone::Unspecified => "未知",
    }
}

/// The Chinese name of a warning level; empty for none.
pub fn warning_label(level: i32) -> &'static str {
    match pb::WarningLevel::try_from(level).unwrap_or_default() {
        pb::WarningLevel::Yellow => "黄色预警",
        pb::WarningLevel::Red => "红色预警",
        _ => "",
    }
}

/// The Chinese name of an experience officer's kind (营商环境体验官的类别),
/// by its wire code; empty for a code it does not know.
pub fn officer_kind_label(code: &str) -> &'static str {
    match code {
        "party_government" => "党政机关",
        "business" => "企业",
        "social_organisation" => "社会组织",
        "citizen" => "热心群众",
        _ => "",
    }
}

/// The Chinese name of a liaison pairing's level (市级 or 旗区级), by its
/// wire code; empty for a code it does not know.
pub fn liaison_level_label(code: &str) -> &'static str {
    match code {
        "city" => "市级",
        "banner" => "旗区级",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_read_back_and_unknown_ones_do_not() {
        for status in OPEN_STATUSES
            .iter()
            .map(|(s, _)| *s)
            .chain([pb::ComplaintStatus::Closed])
        {
            assert_eq!(status_from_code(&status_code(status)), Some(status));
        }
        assert_eq!(status_from_code("unspecified"), None);
        assert_eq!(status_from_code("lost"), None);
    }
}
