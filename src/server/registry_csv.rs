//! Registry files as people keep them in spreadsheets: CSV with a header
//! row, read into domain records with every error naming its row and
//! column.
//!
//! Columns are found by header, in any order, under an English code or the
//! Chinese heading a spreadsheet carries (`credit_code` or `统一社会信用代码`);
//! unknown columns are ignored, a missing required one is refused before any
//! row is read. Rows count as a spreadsheet shows them: the header is row 1.
//! Kinds, levels and yes/no cells take the code or the Chinese word;
//! districts and units take the catalog's code or name. A UTF-8 byte-order
//! mark (as spreadsheet programs write) is skipped.

use chrono::NaiveDate;
use rectify_catalog::Catalog;
use rectify_domain::{
    DistrictCode, StationCode, UnitCode,
    registry::{
        CreditCode, Enterprise, EnterpriseKind, Liaison, LiaisonLevel, Officer, OfficerKind,
        RegistryKind, RegistryRecord, Station,
    },
};

/// Most records in one file.
pub const MAX_IMPORT_ROWS: usize = 5_000;

/// Why a file was refused: the row (header = 1) and column, when there is
/// one, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{reason}", place(*.row, .column.as_deref()))]
pub struct CsvError {
    /// The row as a spreadsheet numbers it.
    pub row: Option<usize>,
    /// The column's header.
    pub column: Option<String>,
    /// What is wrong.
    pub reason: String,
}

fn place(row: Option<usize>, column: Option<&str>) -> String {
    match (row, column) {
        (Some(row), Some(column)) => format!("row {row}, column {column}: "),
        (Some(row), None) => format!("row {row}: "),
        (None, Some(column)) => format!("column {column}: "),
        (None, None) => String::new(),
    }
}

/// A column: its code and the Chinese headings it also answers to.
struct Column {
    code: &'static str,
    headings: &'static [&'static str],
    required: bool,
}

const fn column(code: &'static str, headings: &'static [&'static str], required: bool) -> Column {
    Column {
        code,
        headings,
        required,
    }
}

const ENTERPRISE_COLUMNS: &[Column] = &[
    column("credit_code", &["统一社会信用代码", "信用代码"], true),
    column("name", &["企业名称", "名称"], true),
    column("kind", &["类型", "企业类型"], true),
    column("district", &["旗区", "所在旗区"], false),
    column("aliases", &["别名", "简称"], false),
];
const LIAISON_COLUMNS: &[Column] = &[
    column("credit_code", &["统一社会信用代码", "信用代码"], true),
    column("cadre", &["包联干部", "干部"], true),
    column("level", &["层级", "包联层级"], true),
    column("from", &["起始日期", "开始日期"], true),
    column("to", &["截止日期", "结束日期"], false),
];
const OFFICER_COLUMNS: &[Column] = &[
    column("id", &["编号", "体验官编号"], true),
    column("kind", &["类别", "类型"], true),
    column("round", &["批次"], true),
    column("active", &["在岗", "是否在岗"], true),
];
const STATION_COLUMNS: &[Column] = &[
    column("code", &["站点编码", "编码"], true),
    column("name", &["站点名称", "名称"], true),
    column("district", &["旗区", "所在旗区"], true),
    column("unit", &["主管单位", "单位"], true),
];

fn columns(kind: RegistryKind) -> &'static [Column] {
    match kind {
        RegistryKind::Enterprise => ENTERPRISE_COLUMNS,
        RegistryKind::Liaison => LIAISON_COLUMNS,
        RegistryKind::Officer => OFFICER_COLUMNS,
        RegistryKind::Station => STATION_COLUMNS,
    }
}

/// One data row with the positions of the known columns.
struct Row<'a> {
    number: usize,
    record: &'a csv::StringRecord,
    positions: &'a [Option<usize>],
    columns: &'static [Column],
}

impl Row<'_> {
    fn error(&self, column: &str, reason: impl Into<String>) -> CsvError {
        CsvError {
            row: Some(self.number),
            column: Some(column.to_owned()),
            reason: reason.into(),
        }
    }

    /// The trimmed cell of `code`; empty when the column is absent.
    fn cell(&self, code: &str) -> &str {
        self.columns
            .iter()
            .position(|c| c.code == code)
            .and_then(|i| self.positions[i])
            .and_then(|at| self.record.get(at))
            .map_or("", str::trim)
    }

    fn required(&self, code: &str) -> Result<&str, CsvError> {
        match self.cell(code) {
            "" => Err(self.error(code, "required")),
            value => Ok(value),
        }
    }

    /// A cell read by `parse`, whose error becomes this cell's.
    fn parsed<T>(
        &self,
        code: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, CsvError> {
        parse(self.required(code)?).map_err(|reason| self.error(code, reason))
    }
}

/// Reads `text` as a file of `kind`: every record with its row number, or
/// the first error.
pub fn read(
    kind: RegistryKind,
    text: &str,
    catalog: &Catalog,
) -> Result<Vec<(usize, RegistryRecord)>, CsvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(text.as_bytes());
    let whole = |reason: String| CsvError {
        row: None,
        column: None,
        reason,
    };
    let headers = reader
        .headers()
        .map_err(|e| whole(format!("the header row does not read: {e}")))?
        .clone();
    let columns = columns(kind);
    let positions: Vec<Option<usize>> = columns
        .iter()
        .map(|c| {
            headers.iter().position(|h| {
                let h = h.trim();
                h.eq_ignore_ascii_case(c.code) || c.headings.contains(&h)
            })
        })
        .collect();
    if let Some(missing) = columns
        .iter()
        .zip(&positions)
        .find(|(c, at)| c.required && at.is_none())
    {
        return Err(CsvError {
            row: Some(1),
            column: Some(missing.0.code.to_owned()),
            reason: format!(
                "the header has no column {} (or {})",
                missing.0.code,
                missing.0.headings.join(", ")
            ),
        });
    }
    let mut records = Vec::new();
    let mut seen = std::collections::BTreeMap::new();
    for (index, result) in reader.records().enumerate() {
        let number = index + 2;
        let record = result.map_err(|e| CsvError {
            row: Some(number),
            column: None,
            reason: format!("does not read as CSV: {e}"),
        })?;
        if record.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        if records.len() == MAX_IMPORT_ROWS {
            return Err(whole(format!(
                "more than {MAX_IMPORT_ROWS} records; split the file"
            )));
        }
        let row = Row {
            number,
            record: &record,
            positions: &positions,
            columns,
        };
        let parsed = match kind {
            RegistryKind::Enterprise => enterprise(&row, catalog)?,
            RegistryKind::Liaison => liaison(&row)?,
            RegistryKind::Officer => officer(&row)?,
            RegistryKind::Station => station(&row, catalog)?,
        };
        parsed
            .check()
            .map_err(|e| row.error(&checked_column(&e), e.to_string()))?;
        if let Some(earlier) = seen.insert(parsed.key().to_owned(), number) {
            return Err(row.error(
                columns[0].code,
                format!("{} is already on row {earlier}", parsed.key()),
            ));
        }
        records.push((number, parsed));
    }
    Ok(records)
}

/// The column a domain check names.
fn checked_column(error: &rectify_domain::DomainError) -> String {
    match error {
        rectify_domain::DomainError::Invalid { field, .. } => (*field).to_owned(),
        _ => String::new(),
    }
}

fn credit_code(row: &Row<'_>) -> Result<CreditCode, CsvError> {
    row.parsed("credit_code", |raw| {
        CreditCode::new(raw).map_err(|e| match e {
            rectify_domain::DomainError::Invalid { reason, .. } => reason,
            other => other.to_string(),
        })
    })
}

fn district(raw: &str, catalog: &Catalog) -> Result<DistrictCode, String> {
    let code = catalog
        .districts()
        .iter()
        .find(|d| d.code == raw || d.name == raw)
        .map(|d| d.code.clone())
        .ok_or_else(|| format!("unknown district {raw:?} (a code or name from the catalog)"))?;
    DistrictCode::new(&code).map_err(|e| e.to_string())
}

fn enterprise(row: &Row<'_>, catalog: &Catalog) -> Result<RegistryRecord, CsvError> {
    let district = match row.cell("district") {
        "" => None,
        raw => Some(district(raw, catalog).map_err(|reason| row.error("district", reason))?),
    };
    let aliases = row
        .cell("aliases")
        .split([';', '；', '、'])
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect();
    Ok(RegistryRecord::Enterprise(Enterprise {
        credit_code: credit_code(row)?,
        name: row.required("name")?.to_owned(),
        aliases,
        kind: row.parsed("kind", enterprise_kind)?,
        district,
    }))
}

/// An enterprise kind by code or Chinese name.
pub fn enterprise_kind(raw: &str) -> Result<EnterpriseKind, String> {
    Ok(match raw {
        "above_scale" | "规上企业" | "规上" | "四上企业" | "四上" => {
            EnterpriseKind::AboveScale
        }
        "leading_agricultural" | "农牧业产业化龙头企业" | "龙头企业" => {
            EnterpriseKind::LeadingAgricultural
        }
        "specialized_sme" | "专精特新中小企业" | "专精特新" => {
            EnterpriseKind::SpecializedSme
        }
        "private" | "民营企业" => EnterpriseKind::Private,
        other => {
            return Err(format!(
                "{other:?} is not an enterprise kind: above_scale (规上企业), leading_agricultural (农牧业产业化龙头企业), specialized_sme (专精特新中小企业) or private (民营企业)"
            ));
        }
    })
}

fn date(raw: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(raw, "%Y/%m/%d"))
        .map_err(|_| format!("{raw:?} is not a date (YYYY-MM-DD)"))
}

fn liaison(row: &Row<'_>) -> Result<RegistryRecord, CsvError> {
    let to = match row.cell("to") {
        "" => None,
        raw => Some(date(raw).map_err(|reason| row.error("to", reason))?),
    };
    Ok(RegistryRecord::Liaison(Liaison {
        credit_code: credit_code(row)?,
        cadre: row.required("cadre")?.to_owned(),
        level: row.parsed("level", liaison_level)?,
        from: row.parsed("from", date)?,
        to,
    }))
}

/// A liaison level by code or Chinese name.
pub fn liaison_level(raw: &str) -> Result<LiaisonLevel, String> {
    match raw {
        "city" | "市级" => Ok(LiaisonLevel::City),
        "banner" | "旗区级" | "旗级" => Ok(LiaisonLevel::Banner),
        other => Err(format!(
            "{other:?} is not a level: city (市级) or banner (旗区级)"
        )),
    }
}

fn officer(row: &Row<'_>) -> Result<RegistryRecord, CsvError> {
    let round = row.parsed("round", |raw| {
        raw.trim_start_matches('第')
            .trim_end_matches('批')
            .parse::<u8>()
            .map_err(|_| format!("{raw:?} is not a round number"))
    })?;
    let active = row.parsed("active", |raw| match raw.to_ascii_lowercase().as_str() {
        "yes" | "true" | "1" | "是" | "在岗" => Ok(true),
        "no" | "false" | "0" | "否" | "离岗" => Ok(false),
        other => Err(format!("{other:?} is not yes/no (是/否)")),
    })?;
    Ok(RegistryRecord::Officer(Officer {
        id: row.required("id")?.to_owned(),
        kind: row.parsed("kind", officer_kind)?,
        round,
        active,
    }))
}

/// An officer kind by code or Chinese name.
pub fn officer_kind(raw: &str) -> Result<OfficerKind, String> {
    Ok(match raw {
        "party_government" | "党政机关" => OfficerKind::PartyGovernment,
        "business" | "企业" | "企业界" => OfficerKind::Business,
        "social_organisation" | "社会组织" => OfficerKind::SocialOrganisation,
        "citizen" | "热心群众" | "群众" => OfficerKind::Citizen,
        other => {
            return Err(format!(
                "{other:?} is not an officer kind: party_government (党政机关), business (企业), social_organisation (社会组织) or citizen (热心群众)"
            ));
        }
    })
}

fn station(row: &Row<'_>, catalog: &Catalog) -> Result<RegistryRecord, CsvError> {
    let unit = row.parsed("unit", |raw| {
        let code = catalog
            .unit(raw)
            .or_else(|| catalog.resolve_unit(raw))
            .map(|u| u.code.clone())
            .ok_or_else(|| format!("unknown unit {raw:?} (a code or name from the catalog)"))?;
        UnitCode::new(&code).map_err(|e| e.to_string())
    })?;
    Ok(RegistryRecord::Station(Station {
        code: row.parsed("code", |raw| {
            StationCode::new(raw).map_err(|e| e.to_string())
        })?,
        name: row.required("name")?.to_owned(),
        district: row.parsed("district", |raw| district(raw, catalog))?,
        unit,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::embedded().expect("the embedded catalog loads")
    }

    /// Every officer kind and liaison level the registry records has a
    /// Chinese name for the CLI and the dashboard, and its wire code and
    /// that name both read back as it.
    #[test]
    fn every_kind_and_level_has_its_chinese_name() {
        use crate::labels::{liaison_level_label, officer_kind_label};
        for kind in [
            OfficerKind::PartyGovernment,
            OfficerKind::Business,
            OfficerKind::SocialOrganisation,
            OfficerKind::Citizen,
        ] {
            let code = serde_json::to_value(kind).unwrap();
            let code = code.as_str().unwrap();
            let label = officer_kind_label(code);
            assert!(!label.is_empty(), "{code}");
            assert_eq!(officer_kind(code), Ok(kind));
            assert_eq!(officer_kind(label), Ok(kind));
        }
        for level in [LiaisonLevel::City, LiaisonLevel::Banner] {
            let code = serde_json::to_value(level).unwrap();
            let code = code.as_str().unwrap();
            let label = liaison_level_label(code);
            assert!(!label.is_empty(), "{code}");
            assert_eq!(liaison_level(code), Ok(level));
            assert_eq!(liaison_level(label), Ok(level));
        }
    }

    #[test]
    fn chinese_headers_and_a_bom_read() {
        let text = "\u{feff}统一社会信用代码,企业名称,类型,旗区,别名\n\
                    91350100M000100Y43,示例能源有限公司,规上企业,东胜区,示例能源；示例\n";
        let records = read(RegistryKind::Enterprise, text, &catalog()).unwrap();
        let (2, RegistryRecord::Enterprise(e)) = &records[0] else {
            panic!("an enterprise")
        };
        assert_eq!(e.aliases, ["示例能源", "示例"]);
        assert_eq!(e.district.as_ref().map(|d| d.as_str()), Some("dongsheng"));
    }

    #[test]
    fn errors_name_row_and_column() {
        let text = "credit_code,name,kind\n\
                    91350100M000100Y43,甲,above_scale\n\
                    91350100M000100Y44,乙,above_scale\n";
        let error = read(RegistryKind::Enterprise, text, &catalog()).unwrap_err();
        assert_eq!(error.row, Some(3));
        assert_eq!(error.column.as_deref(), Some("credit_code"));
        assert!(
            error.to_string().starts_with("row 3, column credit_code: "),
            "{error}"
        );
        let missing = read(RegistryKind::Station, "code,name\n", &catalog()).unwrap_err();
        assert_eq!(
            (missing.row, missing.column.as_deref()),
            (Some(1), Some("district"))
        );
        let bad_level = "credit_code,cadre,level,from\n91350100M000100Y43,c1,county,2025-01-01\n";
        let error = read(RegistryKind::Liaison, bad_level, &catalog()).unwrap_err();
        assert_eq!(error.column.as_deref(), Some("level"));
    }

    #[test]
    fn a_key_twice_is_refused() {
        let text = "id,kind,round,active\nTYG-1,citizen,1,是\nTYG-1,business,2,否\n";
        let error = read(RegistryKind::Officer, text, &catalog()).unwrap_err();
        assert_eq!(error.row, Some(3));
    }
}
