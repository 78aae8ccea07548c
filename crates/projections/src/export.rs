//! Ledger exports: CSV and Excel workbooks, because ledgers travel between
//! offices as spreadsheets. Both carry the same columns; times are China
//! Standard Time. No personal data is exported (rows never hold it).

use chrono::{DateTime, Utc};
use rust_xlsxwriter::{Format, Workbook};
use serde::Serialize;

use crate::{ProjectionError, row::LedgerRow, timestamp::Timestamp};

/// Most rows one export writes (an Excel sheet holds 1,048,576 rows).
pub const MAX_EXPORT_ROWS: usize = 1_000_000;

/// Column headings: Chinese as the offices read it, the field in brackets.
pub const COLUMNS: &[&str] = &[
    "编号 (id)",
    "状态 (status)",
    "渠道 (channel)",
    "类型 (kind)",
    "标题 (title)",
    "任务领域 (area)",
    "旗区 (district)",
    "牵头单位 (lead unit)",
    "责任单位 (responsible units)",
    "受理时间 (received)",
    "转派时间 (dispatched)",
    "办结期限 (resolve due)",
    "办结时间 (resolved)",
    "销号时间 (closed)",
    "超期 (overdue)",
    "预警 (warning)",
    "延期次数 (extensions)",
    "退单次数 (returns)",
    "重办次数 (reopenings)",
    "满意度 (satisfaction)",
];

/// The name serde gives a unit enum variant (`snake_case` in the domain).
fn enum_name(value: &impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

fn local(at: Option<Timestamp>) -> String {
    at.map(|t| {
        t.to_datetime()
            .with_timezone(&rectify_domain::CHINA_STANDARD_TIME)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    })
    .unwrap_or_default()
}

/// The cells of one row, in [`COLUMNS`] order.
pub fn cells(row: &LedgerRow, now: DateTime<Utc>) -> Vec<String> {
    vec![
        row.id().to_owned(),
        row.status.as_str().to_owned(),
        enum_name(&row.channel),
        enum_name(&row.kind),
        row.title().to_owned(),
        row.area.map(String::from).unwrap_or_default(),
        row.district.map(String::from).unwrap_or_default(),
        row.lead.map(String::from).unwrap_or_default(),
        row.responsible.join(" "),
        local(Some(row.received_at)),
        local(row.dispatched_at()),
        local(row.resolve_due_at()),
        local(row.resolved_at),
        local(row.closed_at),
        if row.is_overdue(now) { "是" } else { "" }.to_owned(),
        row.warning_level()
            .map(|w| enum_name(&w))
            .unwrap_or_default(),
        row.extension_count().to_string(),
        row.return_count().to_string(),
        row.reopen_count().to_string(),
        row.satisfaction()
            .map(|s| enum_name(&s))
            .unwrap_or_default(),
    ]
}

/// The rows as CSV (UTF-8 with a byte-order mark, so spreadsheet programs
/// read the Chinese correctly).
pub fn to_csv<'a>(
    rows: impl IntoIterator<Item = &'a LedgerRow>,
    now: DateTime<Utc>,
) -> Result<Vec<u8>, ProjectionError> {
    let mut out = "\u{feff}".as_bytes().to_vec();
    {
        let mut writer = csv::Writer::from_writer(&mut out);
        let export = |error: csv::Error| ProjectionError::Export(error.to_string());
        writer.write_record(COLUMNS).map_err(export)?;
        for row in rows {
            writer.write_record(cells(row, now)).map_err(export)?;
        }
        writer
            .flush()
            .map_err(|error| ProjectionError::Export(error.to_string()))?;
    }
    Ok(out)
}

/// The rows as an Excel workbook with one sheet, 台账.
pub fn to_xlsx<'a>(
    rows: impl IntoIterator<Item = &'a LedgerRow>,
    now: DateTime<Utc>,
) -> Result<Vec<u8>, ProjectionError> {
    let export = |error: rust_xlsxwriter::XlsxError| ProjectionError::Export(error.to_string());
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("台账").map_err(export)?;
    let bold = Format::new().set_bold();
    for (col, heading) in COLUMNS.iter().enumerate() {
        let col = u16::try_from(col).expect("fewer than 65,536 columns");
        sheet
            .write_string_with_format(0, col, *heading, &bold)
            .map_err(export)?;
    }
    for (index, row) in rows.into_iter().enumerate() {
        if index >= MAX_EXPORT_ROWS {
            return Err(ProjectionError::InvalidArgument {
                field: "filter",
                reason: format!("more than {MAX_EXPORT_ROWS} rows; narrow the filter"),
            });
        }
        let line = u32::try_from(index + 1).expect("at most MAX_EXPORT_ROWS rows");
        for (col, cell) in cells(row, now).iter().enumerate() {
            let col = u16::try_from(col).expect("fewer than 65,536 columns");
            sheet.write_string(line, col, cell).map_err(export)?;
        }
    }
    sheet.set_freeze_panes(1, 0).map_err(export)?;
    sheet
        .autofilter(0, 0, 0, (COLUMNS.len() - 1) as u16)
        .map_err(export)?;
    workbook.save_to_buffer().map_err(export)
}
