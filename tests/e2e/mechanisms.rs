//! The city's own mechanisms through the real server: the registries
//! imported from spreadsheet files, grassroots stations' QR codes and the
//! station ranking, the liaison and officer reports, and the view's
//! checkpoint across a restart.

use std::path::{Path, PathBuf};

use rectify::{
    pb::{self, registry_service_client::RegistryServiceClient},
    wire::{HEADER_PRINCIPAL, HEADER_ROLE},
};
use tonic::{Code, Request, transport::Channel};

use crate::support::{
    Server, accept, as_role, as_unit, callback, classify_and_dispatch, cli, get, history,
    record_callback, resolve, submit_as_hotline, submit_request, verify,
};

/// `message` from the experience officer `id` (role `officer`).
fn as_officer<T>(message: T, id: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert(HEADER_ROLE, "officer".parse().unwrap());
    request
        .metadata_mut()
        .insert(HEADER_PRINCIPAL, id.parse().unwrap());
    request
}

/// `message` from the liaison cadre `cadre` (role `liaison`).
fn as_cadre<T>(message: T, cadre: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert(HEADER_ROLE, "liaison".parse().unwrap());
    request
        .metadata_mut()
        .insert(HEADER_PRINCIPAL, cadre.parse().unwrap());
    request
}

/// The sample registry files under `seeds/registry/`.
fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds/registry")
        .join(format!("sample-{name}.csv"))
}

async fn registry(server: &Server) -> RegistryServiceClient<Channel> {
    RegistryServiceClient::new(server.channel().await)
}

/// Imports one sample file through the CLI; returns what it printed.
fn import(server: &Server, kind: &str) -> String {
    let file = sample(kind);
    cli(
        server,
        &[
            "admin",
            &format!("import-{kind}"),
            file.to_str().unwrap(),
            "--as",
            "dispatcher",
        ],
    )
}

async fn list(
    r: &mut RegistryServiceClient<Channel>,
    kind: pb::RegistryKind,
    min_position: u64,
) -> Vec<pb::registry_record::Record> {
    r.list_registry(as_role(
        pb::ListRegistryRequest {
            kind: kind as i32,
            min_position,
        },
        "supervisor",
    ))
    .await
    .expect("list the registry")
    .into_inner()
    .records
    .into_iter()
    .filter_map(|r| r.record)
    .collect()
}

/// Imports a sample file through the API as the dispatch centre.
async fn import_sample(r: &mut RegistryServiceClient<Channel>, kind: pb::RegistryKind, name: &str) {
    r.import_registry(as_role(
        pb::ImportRegistryRequest {
            kind: kind as i32,
            csv: std::fs::read_to_string(sample(name)).unwrap(),
        },
        "dispatcher",
    ))
    .await
    .unwrap_or_else(|e| panic!("import the sample {name}: {e}"));
}

/// Traffic through every mechanism: the four sample registries imported,
/// three QR complaints at two stations (one dispatched), two officers'
/// reports, and a complaint of a paired enterprise dispatched (so its
/// cadre is told) with the cadre's note. Returns the log's head after it.
pub(crate) async fn mechanism_traffic(server: &Server) -> u64 {
    let mut r = registry(server).await;
    for (kind, name) in [
        (pb::RegistryKind::Enterprise, "enterprises"),
        (pb::RegistryKind::Liaison, "liaisons"),
        (pb::RegistryKind::Officer, "officers"),
        (pb::RegistryKind::Station, "stations"),
    ] {
        import_sample(&mut r, kind, name).await;
    }
    let mut c = server.complaints().await;
    let mut ids = Vec::new();
    for (station, title) in [
        ("sample-kangbashi-hall", "窗口排队时间长"),
        ("sample-kangbashi-hall", "材料一次性告知不到位"),
        ("sample-dalad-station", "自助机故障"),
    ] {
        let request = pb::SubmitComplaintRequest {
            channel: pb::Channel::QrCode as i32,
            station_code: station.into(),
            district: "kangbashi".into(),
            ..submit_request(title)
        };
        let done = c
            .submit_complaint(as_role(request, "portal"))
            .await
            .expect("a QR complaint");
        ids.push(done.into_inner().result.unwrap().id);
    }
    classify_and_dispatch(&mut c, &ids[0]).await;
    for officer in ["TYG-SAMPLE-001", "TYG-SAMPLE-002"] {
        let request = pb::SubmitComplaintRequest {
            channel: pb::Channel::ExperienceOfficer as i32,
            officer_id: officer.into(),
            ..submit_request("陪群众走流程：电力报装材料反复要求")
        };
        c.submit_complaint(as_role(request, "portal"))
            .await
            .expect("an officer's report");
    }
    let paired = submit_as_hotline(
        &mut c,
        pb::SubmitComplaintRequest {
            enterprise: "示例能源".into(),
            ..submit_request("用电报装迟迟不接电")
        },
    )
    .await
    .id;
    classify_and_dispatch(&mut c, &paired).await;
    c.record_liaison_note(as_cadre(
        pb::RecordLiaisonNoteRequest {
            complaint_id: paired,
            note: "电话联系企业负责人".into(),
            contacted: true,
            ..Default::default()
        },
        "cadre-sample-001",
    ))
    .await
    .expect("the cadre's note");
    crate::support::head(server).await
}

/// The three reports as the dispatch centre reads them at `min_position`.
async fn reports(
    server: &Server,
    min_position: u64,
) -> (
    Vec<pb::StationRanking>,
    Vec<pb::CadreReport>,
    pb::OfficerReportResponse,
) {
    let mut r = registry(server).await;
    let stations = r
        .rank_stations(as_role(
            pb::RankStationsRequest { min_position },
            "supervisor",
        ))
        .await
        .expect("rank stations")
        .into_inner()
        .stations;
    let cadres = r
        .liaison_report(as_role(
            pb::LiaisonReportRequest {
                cadre: String::new(),
                min_position,
            },
            "supervisor",
        ))
        .await
        .expect("liaison report")
        .into_inner()
        .cadres;
    let officers = r
        .officer_report(as_role(
            pb::OfficerReportRequest {
                officer: String::new(),
                min_position,
            },
            "supervisor",
        ))
        .await
        .expect("officer report")
        .into_inner();
    (stations, cadres, officers)
}

// Multi-threaded: `restart` blocks while the server shuts down gracefully,
// and the client connections must close meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reports_are_the_same_after_a_restart_from_the_checkpoint() {
    let server = Server::fresh();
    let head = mechanism_traffic(&server).await;
    let before = reports(&server, head).await;
    assert_eq!(before.0[0].complaints, 2, "{:?}", before.0);
    let cadre = before
        .1
        .iter()
        .find(|c| c.cadre == "cadre-sample-001")
        .unwrap();
    assert_eq!((cadre.complaints, cadre.contacted), (1, 1));
    assert_eq!(
        before
            .2
            .officers
            .iter()
            .filter(|o| o.tally.unwrap().reports == 1)
            .count(),
        2
    );
    let server = server.restart();
    // Nothing to wait for: the view is loaded before the server serves.
    assert_eq!(reports(&server, 0).await, before);
    let mut r = registry(&server).await;
    let stations = list(&mut r, pb::RegistryKind::Station, 0).await;
    assert_eq!(stations.len(), 4, "the registries come back too");
}

/// Credit code `i` of a generated file: valid, with its check character.
fn generated_code(i: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    let mut first17 = String::from("91150602");
    for place in (0..9).rev() {
        let digit = (i / ALPHABET.len().pow(place)) % ALPHABET.len();
        first17.push(char::from(ALPHABET[digit]));
    }
    let check = rectify_domain::registry::credit::check_character(&first17).unwrap();
    format!("{first17}{check}")
}

/// An enterprise file of rows `range`, the names with `suffix`.
fn generated_enterprises(range: std::ops::Range<usize>, suffix: &str) -> String {
    let mut csv = String::from("credit_code,name,kind\n");
    for i in range {
        csv.push_str(&format!(
            "{},第{i}商贸有限公司{suffix},above_scale\n",
            generated_code(i)
        ));
    }
    csv
}

#[tokio::test]
async fn a_large_import_counts_every_row_once_written_concurrently() {
    let server = Server::fresh();
    let mut r = registry(&server).await;
    let import = |csv: String| {
        let mut r = r.clone();
        async move {
            r.import_registry(as_role(
                pb::ImportRegistryRequest {
                    kind: pb::RegistryKind::Enterprise as i32,
                    csv,
                },
                "dispatcher",
            ))
            .await
            .expect("the import")
            .into_inner()
        }
    };
    let first = import(generated_enterprises(0..300, "")).await;
    assert_eq!(
        (first.rows, first.added, first.revised, first.unchanged),
        (300, 300, 0, 0)
    );
    assert_eq!(first.position, crate::support::head(&server).await);
    // 100 renamed, 150 as they were, 50 new; then the same file again.
    let mut mixed = generated_enterprises(0..100, "（更名）");
    mixed.push_str(
        generated_enterprises(100..250, "")
            .split_once('\n')
            .unwrap()
            .1,
    );
    mixed.push_str(
        generated_enterprises(300..350, "")
            .split_once('\n')
            .unwrap()
            .1,
    );
    let second = import(mixed.clone()).await;
    assert_eq!(
        (second.rows, second.added, second.revised, second.unchanged),
        (300, 50, 100, 150)
    );
    assert_eq!(second.position, crate::support::head(&server).await);
    let again = import(mixed).await;
    assert_eq!(
        (again.added, again.revised, again.unchanged, again.position),
        (0, 0, 300, second.position),
        "a repeated import writes nothing"
    );
    let listed = list(&mut r, pb::RegistryKind::Enterprise, second.position).await;
    assert_eq!(listed.len(), 350);
    let Some(pb::registry_record::Record::Enterprise(renamed)) = listed
        .iter()
        .find(|e| matches!(e, pb::registry_record::Record::Enterprise(e) if e.credit_code == generated_code(7)))
    else {
        panic!("enterprise 7 listed");
    };
    assert_eq!(renamed.name, "第7商贸有限公司（更名）");
}

#[tokio::test]
async fn imports_check_every_row_first_and_are_idempotent() {
    let server = Server::fresh();
    let mut r = registry(&server).await;
    // Row 3 (the header is row 1) has a wrong check character.
    let bad = "统一社会信用代码,企业名称,类型\n\
               91150602MA0YL00019,甲公司,规上企业\n\
               91150603MA0YL0002U,乙公司,规上企业\n";
    let refused = r
        .import_registry(as_role(
            pb::ImportRegistryRequest {
                kind: pb::RegistryKind::Enterprise as i32,
                csv: bad.into(),
            },
            "dispatcher",
        ))
        .await
        .expect_err("a bad credit code refuses the file");
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(
        refused.message().contains("row 3, column credit_code")
            && refused.message().contains("check character"),
        "{}",
        refused.message()
    );
    let head = crate::support::head(&server).await;
    assert!(
        list(&mut r, pb::RegistryKind::Enterprise, head)
            .await
            .is_empty(),
        "the good row 2 was not written either"
    );

    // Liaison pairs need their enterprises first.
    let orphan = r
        .import_registry(as_role(
            pb::ImportRegistryRequest {
                kind: pb::RegistryKind::Liaison as i32,
                csv: std::fs::read_to_string(sample("liaisons")).unwrap(),
            },
            "dispatcher",
        ))
        .await
        .expect_err("enterprises are not registered yet");
    assert!(
        orphan.message().contains("row 2, column credit_code"),
        "{}",
        orphan.message()
    );

    // Only the dispatch centre or an administrator imports.
    let denied = r
        .import_registry(as_role(
            pb::ImportRegistryRequest {
                kind: pb::RegistryKind::Officer as i32,
                csv: std::fs::read_to_string(sample("officers")).unwrap(),
            },
            "hotline",
        ))
        .await
        .expect_err("the hotline keeps no registry");
    assert_eq!(denied.code(), Code::PermissionDenied);

    for kind in ["enterprises", "liaisons", "officers", "stations"] {
        let first = import(&server, kind);
        assert!(first.contains(" added, 0 revised, 0 unchanged"), "{first}");
        let again = import(&server, kind);
        assert!(again.contains(" 0 added, 0 revised, "), "{again}");
    }
    let head = crate::support::head(&server).await;
    let enterprises = list(&mut r, pb::RegistryKind::Enterprise, head).await;
    assert_eq!(enterprises.len(), 6);
    let Some(pb::registry_record::Record::Enterprise(first)) = enterprises.first() else {
        panic!("an enterprise first");
    };
    assert_eq!(first.credit_code, "91150602MA0YL00019");
    assert_eq!(first.kind, "above_scale");
    assert_eq!(first.aliases, ["示例能源", "示例能源化工"]);
    assert_eq!(list(&mut r, pb::RegistryKind::Liaison, head).await.len(), 6);
    assert_eq!(list(&mut r, pb::RegistryKind::Officer, head).await.len(), 5);
    assert_eq!(list(&mut r, pb::RegistryKind::Station, head).await.len(), 4);
    // A unit's clerk does not read the registries.
    let unit_read = r
        .list_registry(crate::support::as_unit(
            pb::ListRegistryRequest {
                kind: pb::RegistryKind::Liaison as i32,
                min_position: 0,
            },
            "power-bureau",
        ))
        .await
        .expect_err("registries are the dispatch centre's");
    assert_eq!(unit_read.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn a_stations_png_decodes_back_to_its_payload() {
    let server = Server::fresh();
    import(&server, "stations");
    let dir = tempfile::tempdir().unwrap();
    let png_path = dir.path().join("station.png");
    let printed = cli(
        &server,
        &[
            "admin",
            "station-qr",
            "sample-kangbashi-hall",
            "--out",
            png_path.to_str().unwrap(),
            "--portal-url",
            "https://portal.example/qr",
        ],
    );
    let payload = "https://portal.example/qr?station=sample-kangbashi-hall";
    assert!(printed.contains(payload), "{printed}");

    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(&png_path).unwrap(),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    assert_eq!(frame.color_type, png::ColorType::Grayscale);
    let (width, height) = (frame.width as usize, frame.height as usize);
    let mut image =
        rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| pixels[y * width + x]);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the picture");
    let (_, content) = grids[0].decode().expect("the code decodes");
    assert_eq!(content, payload);
}

#[tokio::test]
async fn qr_complaints_count_in_their_stations_ranking() {
    let server = Server::fresh();
    import(&server, "stations");
    let mut c = server.complaints().await;
    let qr = |station: &str, title: &str| pb::SubmitComplaintRequest {
        channel: pb::Channel::QrCode as i32,
        station_code: station.into(),
        district: "kangbashi".into(),
        ..submit_request(title)
    };
    let submit = |request: pb::SubmitComplaintRequest| {
        let mut c = c.clone();
        async move { c.submit_complaint(as_role(request, "portal")).await }
    };
    let unknown = submit(qr("no-such-station", "窗口排队时间长"))
        .await
        .expect_err("an unregistered station");
    assert_eq!(unknown.code(), Code::InvalidArgument);
    assert!(
        unknown.message().contains("station_code"),
        "{}",
        unknown.message()
    );
    let not_qr = submit(pb::SubmitComplaintRequest {
        channel: pb::Channel::Hotline12345 as i32,
        ..qr("sample-kangbashi-hall", "窗口排队时间长")
    })
    .await
    .expect_err("only a QR complaint names a station");
    assert_eq!(not_qr.code(), Code::InvalidArgument);

    let first = submit(qr("sample-kangbashi-hall", "窗口排队时间长"))
        .await
        .expect("a QR complaint")
        .into_inner()
        .result
        .unwrap()
        .id;
    submit(qr("sample-kangbashi-hall", "材料一次性告知不到位"))
        .await
        .expect("a second one");
    submit(qr("sample-dalad-station", "自助机故障"))
        .await
        .expect("another station");

    let lead = classify_and_dispatch(&mut c, &first).await;
    accept(&mut c, &first, &lead).await;
    resolve(&mut c, &first, &lead, "增开窗口，引导分流", &["photo-1"]).await;
    verify(&mut c, &first).await;
    record_callback(
        &mut c,
        &first,
        callback(true, true, true, pb::Satisfaction::Satisfied),
    )
    .await;
    let closed = c
        .close_complaint(as_role(
            pb::CloseComplaintRequest {
                complaint_id: first.clone(),
                ..Default::default()
            },
            "dispatcher",
        ))
        .await
        .expect("close")
        .into_inner()
        .result
        .unwrap();

    let ranking = registry(&server)
        .await
        .rank_stations(as_role(
            pb::RankStationsRequest {
                min_position: closed.position,
            },
            "dispatcher",
        ))
        .await
        .expect("rank stations")
        .into_inner()
        .stations;
    let codes: Vec<&str> = ranking
        .iter()
        .map(|s| s.station.as_ref().unwrap().code.as_str())
        .collect();
    assert_eq!(
        codes,
        [
            "sample-kangbashi-hall",
            "sample-dalad-station",
            "sample-dongsheng-hall",
            "sample-jungar-station"
        ],
        "most complaints first, then by code"
    );
    let top = &ranking[0];
    assert_eq!((top.complaints, top.closed), (2, 1));
    assert_eq!((top.callbacks, top.satisfied), (1, 1));
    assert_eq!(top.satisfaction_permille, Some(1_000));
    assert!(top.median_minutes_to_close.is_some());
    assert_eq!(ranking[1].complaints, 1);
    assert_eq!(ranking[1].median_minutes_to_close, None);
    assert_eq!(ranking[3].complaints, 0);

    // A portal behind the QR code posts through Open311.
    let posted = crate::support::http(
        &server,
        "POST",
        "/open311/v2/requests.json",
        &[],
        Some(&[
            ("api_key", "city-portal"),
            ("service_code", "getting-electricity"),
            ("description", "扫码反馈：大厅自助机无法打印"),
            ("address_string", "达拉特旗某镇便民服务站"),
            ("phone", "13812345678"),
            ("first_name", "小红"),
            ("last_name", "李"),
            ("channel", "qr_code"),
            ("attribute[station]", "sample-dalad-station"),
        ]),
    )
    .await;
    assert_eq!(posted.status, 200, "{}", posted.body);
    let by_open311 = registry(&server)
        .await
        .rank_stations(as_role(
            pb::RankStationsRequest {
                min_position: crate::support::head(&server).await,
            },
            "dispatcher",
        ))
        .await
        .unwrap()
        .into_inner()
        .stations;
    let dalad = by_open311
        .iter()
        .find(|s| s.station.as_ref().unwrap().code == "sample-dalad-station")
        .unwrap();
    assert_eq!(dalad.complaints, 2, "the Open311 QR complaint counts too");

    // The ledger lists a station's complaints.
    let listed = server
        .queries()
        .await
        .list_ledger(as_role(
            pb::ListLedgerRequest {
                filter: Some(pb::LedgerFilter {
                    station_code: "sample-kangbashi-hall".into(),
                    ..Default::default()
                }),
                min_position: crate::support::head(&server).await,
                ..Default::default()
            },
            "dispatcher",
        ))
        .await
        .expect("the ledger by station")
        .into_inner();
    assert_eq!(listed.total, 2);
    assert!(listed.rows.iter().any(|r| r.complaint_id == first));

    // The third-party survey finds the hall wanting: an item of the survey
    // ledger, led by the unit that runs the station.
    let mut l = server.ledgers().await;
    l.open_ledger(as_role(
        pb::OpenLedgerRequest {
            ledger_id: "station-survey-2026".into(),
            title: "2026年基层站所满意度调查整改台账".into(),
            source: pb::LedgerSource::SupervisionInspection as i32,
            owner_unit: "gov-services".into(),
            ..Default::default()
        },
        "dispatcher",
    ))
    .await
    .expect("open the survey ledger");
    let finding = |station: &str| pb::RecordStationFindingRequest {
        station_code: station.into(),
        ledger_id: "station-survey-2026".into(),
        item_id: "kbs-hall-queue".into(),
        problem: "高峰时段窗口排队超过一小时".into(),
        measures: "增设综合窗口，推行预约办理".into(),
        ..Default::default()
    };
    let mut r = registry(&server).await;
    let unknown = r
        .record_station_finding(as_role(finding("no-such-station"), "dispatcher"))
        .await
        .expect_err("an unregistered station");
    assert_eq!(unknown.code(), Code::InvalidArgument);
    let recorded = r
        .record_station_finding(as_role(finding("sample-kangbashi-hall"), "dispatcher"))
        .await
        .expect("the finding becomes an item")
        .into_inner();
    assert_eq!(recorded.lead_unit, "kangbashi-gov");
    let items = l
        .list_items(as_role(
            pb::ListItemsRequest {
                ledger_id: "station-survey-2026".into(),
                min_position: recorded.result.unwrap().position,
                ..Default::default()
            },
            "dispatcher",
        ))
        .await
        .expect("list items")
        .into_inner()
        .items;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].lead_units, ["kangbashi-gov"]);
    assert_eq!(items[0].problem, "高峰时段窗口排队超过一小时");
}

#[tokio::test]
async fn a_paired_enterprises_complaint_reaches_its_cadre_and_no_other() {
    let server = Server::fresh();
    import(&server, "enterprises");
    import(&server, "liaisons");
    let mut c = server.complaints().await;
    // Named by an alias of the registry; the enterprise is paired with
    // cadre-sample-001 from 2025-01-01, open-ended.
    let id = submit_as_hotline(
        &mut c,
        pb::SubmitComplaintRequest {
            enterprise: "示例能源".into(),
            ..submit_request("用电报装迟迟不接电")
        },
    )
    .await
    .id;
    let lead = classify_and_dispatch(&mut c, &id).await;
    let events = history(&mut c, &id).await;
    let assigned = events
        .iter()
        .find(|e| e.event_type == "LiaisonAssigned")
        .expect("the dispatch records the liaison");
    assert!(
        assigned.payload_json.contains("cadre-sample-001")
            && assigned.payload_json.contains("91150602MA0YL00019"),
        "{}",
        assigned.payload_json
    );
    let unpaired = submit_as_hotline(&mut c, submit_request("另一家企业的诉求"))
        .await
        .id;
    classify_and_dispatch(&mut c, &unpaired).await;
    assert!(
        history(&mut c, &unpaired)
            .await
            .iter()
            .all(|e| e.event_type != "LiaisonAssigned"),
        "an enterprise not in the registry has no cadre"
    );

    // The cadre reads it, masked; another cadre does not.
    let read = |cadre: &'static str, id: String| {
        let mut c = c.clone();
        async move {
            c.get_complaint(as_cadre(
                pb::GetComplaintRequest {
                    complaint_id: id,
                    min_position: 0,
                },
                cadre,
            ))
            .await
        }
    };
    let seen = read("cadre-sample-001", id.clone())
        .await
        .expect("the cadre reads their enterprise's complaint")
        .into_inner()
        .complaint
        .unwrap();
    let submitter = seen.submitter.unwrap_or_default();
    assert_ne!(
        submitter.phone, "13812345678",
        "a cadre sees the submitter masked"
    );
    let other = read("cadre-sample-002", id.clone())
        .await
        .expect_err("another cadre");
    assert_eq!(other.code(), Code::PermissionDenied);
    let other_history = c
        .get_history(as_cadre(
            pb::GetHistoryRequest {
                complaint_id: id.clone(),
            },
            "cadre-sample-002",
        ))
        .await
        .expect_err("another cadre reads no history");
    assert_eq!(other_history.code(), Code::PermissionDenied);
    let ledger = server
        .queries()
        .await
        .list_ledger(as_cadre(
            pb::ListLedgerRequest::default(),
            "cadre-sample-001",
        ))
        .await
        .expect_err("a cadre does not list the whole ledger");
    assert_eq!(ledger.code(), Code::PermissionDenied);

    // The cadre's notes and chase-ups; another cadre's are refused.
    let note = |cadre: &'static str| pb::RecordLiaisonNoteRequest {
        complaint_id: id.clone(),
        note: format!("{cadre} 电话联系企业负责人，协调电业局现场勘查"),
        contacted: true,
        ..Default::default()
    };
    c.record_liaison_note(as_cadre(note("cadre-sample-001"), "cadre-sample-001"))
        .await
        .expect("the cadre's note");
    let refused = c
        .record_liaison_note(as_cadre(note("cadre-sample-002"), "cadre-sample-002"))
        .await
        .expect_err("not their enterprise");
    assert_eq!(refused.code(), Code::PermissionDenied);
    c.chase_up(as_cadre(
        pb::ChaseUpRequest {
            complaint_id: id.clone(),
            note: "请电业局加快接电".into(),
            ..Default::default()
        },
        "cadre-sample-001",
    ))
    .await
    .expect("the cadre chases up");

    accept(&mut c, &id, &lead).await;
    resolve(&mut c, &id, &lead, "外线工程已完工并送电", &["photo-1"]).await;
    verify(&mut c, &id).await;
    record_callback(
        &mut c,
        &id,
        callback(true, true, true, pb::Satisfaction::Satisfied),
    )
    .await;
    let closed = c
        .close_complaint(as_role(
            pb::CloseComplaintRequest {
                complaint_id: id.clone(),
                ..Default::default()
            },
            "dispatcher",
        ))
        .await
        .expect("close")
        .into_inner()
        .result
        .unwrap();

    let mut r = registry(&server).await;
    let report = r
        .liaison_report(as_role(
            pb::LiaisonReportRequest {
                cadre: String::new(),
                min_position: closed.position,
            },
            "dispatcher",
        ))
        .await
        .expect("the evaluation per cadre")
        .into_inner()
        .cadres;
    assert_eq!(report.len(), 6, "every cadre of the registry");
    let cadre = report
        .iter()
        .find(|r| r.cadre == "cadre-sample-001")
        .unwrap();
    assert_eq!(
        (cadre.enterprises, cadre.complaints, cadre.contacted),
        (1, 1, 1)
    );
    assert!(cadre.median_minutes_to_contact.is_some());
    assert_eq!((cadre.resolved, cadre.closed), (1, 1));
    assert_eq!((cadre.callbacks, cadre.satisfied, cadre.solved), (1, 1, 1));
    assert_eq!(cadre.complaint_ids, std::slice::from_ref(&id));
    let of_cadre = server
        .queries()
        .await
        .list_ledger(as_role(
            pb::ListLedgerRequest {
                filter: Some(pb::LedgerFilter {
                    liaison_cadre: "cadre-sample-001".into(),
                    ..Default::default()
                }),
                min_position: closed.position,
                ..Default::default()
            },
            "supervisor",
        ))
        .await
        .expect("the ledger by cadre")
        .into_inner();
    assert_eq!(
        of_cadre
            .rows
            .iter()
            .map(|r| r.complaint_id.as_str())
            .collect::<Vec<_>>(),
        [id.as_str()]
    );

    let own = r
        .liaison_report(as_cadre(
            pb::LiaisonReportRequest::default(),
            "cadre-sample-002",
        ))
        .await
        .expect("a cadre reads their own")
        .into_inner()
        .cadres;
    assert_eq!(own.len(), 1);
    assert_eq!(
        (own[0].cadre.as_str(), own[0].complaints),
        ("cadre-sample-002", 0)
    );
    let theirs = r
        .liaison_report(as_cadre(
            pb::LiaisonReportRequest {
                cadre: "cadre-sample-001".into(),
                min_position: 0,
            },
            "cadre-sample-002",
        ))
        .await
        .expect_err("not another cadre's");
    assert_eq!(theirs.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn an_officers_report_is_warned_at_the_rules_time_and_the_officer_sees_it_closed() {
    use chrono::{Duration, TimeZone as _, Utc};
    let dir = tempfile::tempdir().unwrap();
    let clock = dir.path().join("clock");
    // Wednesday 14 October 2026, 10:00 in Ordos: a working morning.
    let t0 = Utc.with_ymd_and_hms(2026, 10, 14, 2, 0, 0).unwrap();
    std::fs::write(&clock, t0.to_rfc3339()).unwrap();
    let server = Server::fresh_with(&["--clock-file".to_owned(), clock.display().to_string()]);
    import(&server, "officers");
    let mut c = server.complaints().await;
    let report = |officer: &str| pb::SubmitComplaintRequest {
        channel: pb::Channel::ExperienceOfficer as i32,
        officer_id: officer.into(),
        ..submit_request("陪群众走流程：电力报装材料反复要求")
    };
    for (officer, channel) in [
        ("TYG-SAMPLE-005", pb::Channel::ExperienceOfficer),
        ("TYG-NOBODY", pb::Channel::ExperienceOfficer),
        ("TYG-SAMPLE-002", pb::Channel::Hotline12345),
    ] {
        let refused = c
            .submit_complaint(as_role(
                pb::SubmitComplaintRequest {
                    channel: channel as i32,
                    ..report(officer)
                },
                "portal",
            ))
            .await
            .expect_err("an inactive or unknown officer, or the wrong channel");
        assert_eq!(refused.code(), Code::InvalidArgument, "{officer}");
        assert!(
            refused.message().contains("officer_id"),
            "{}",
            refused.message()
        );
    }
    let id = c
        .submit_complaint(as_role(report("TYG-SAMPLE-002"), "portal"))
        .await
        .expect("an officer's report")
        .into_inner()
        .result
        .unwrap()
        .id;
    let lead = classify_and_dispatch(&mut c, &id).await;
    // 获得电力 asks first contact within 4 working hours; the officers'
    // response rules (deadlines.toml) within 2: due at 12:00.
    let view = get(&mut c, &id).await;
    let first_contact = view
        .deadlines
        .iter()
        .find(|d| d.milestone == pb::Milestone::FirstContact as i32)
        .and_then(|d| d.due_at)
        .expect("a first-contact deadline");
    assert_eq!(first_contact.seconds, (t0 + Duration::hours(2)).timestamp());

    // 11:40, past the yellow mark (80 % of the two hours): warned.
    std::fs::write(&clock, (t0 + Duration::minutes(100)).to_rfc3339()).unwrap();
    server
        .admin()
        .await
        .scan_deadlines(as_role(pb::ScanDeadlinesRequest {}, "admin"))
        .await
        .expect("scan deadlines");
    let warned = history(&mut c, &id)
        .await
        .into_iter()
        .find(|e| e.event_type == "DeadlineWarned")
        .expect("the officer's report is warned at the rule's time");
    assert!(
        warned.payload_json.contains("first_contact"),
        "{}",
        warned.payload_json
    );

    // The officer follows their own report, in clear; another officer not.
    let reader = c.clone();
    let read = |officer: &'static str| {
        let mut c = reader.clone();
        let id = id.clone();
        async move {
            c.get_complaint(as_officer(
                pb::GetComplaintRequest {
                    complaint_id: id,
                    min_position: 0,
                },
                officer,
            ))
            .await
        }
    };
    let own = read("TYG-SAMPLE-002")
        .await
        .expect("the officer reads their report");
    let own = own.into_inner().complaint.unwrap();
    assert_eq!(own.submitter.unwrap_or_default().phone, "13812345678");
    let other = read("TYG-SAMPLE-001").await.expect_err("another officer");
    assert_eq!(other.code(), Code::PermissionDenied);

    accept(&mut c, &id, &lead).await;
    c.record_step(as_unit(
        pb::RecordStepRequest {
            complaint_id: id.clone(),
            description: "电话回复体验官，约定现场核实".into(),
            contacted_submitter: true,
            ..Default::default()
        },
        &lead,
    ))
    .await
    .expect("the officer is contacted");
    resolve(&mut c, &id, &lead, "材料清单已统一公示", &["notice-1"]).await;
    verify(&mut c, &id).await;
    record_callback(
        &mut c,
        &id,
        callback(true, true, true, pb::Satisfaction::Satisfied),
    )
    .await;
    let closed = c
        .close_complaint(as_role(
            pb::CloseComplaintRequest {
                complaint_id: id.clone(),
                ..Default::default()
            },
            "dispatcher",
        ))
        .await
        .expect("close")
        .into_inner()
        .result
        .unwrap();
    let seen = read("TYG-SAMPLE-002")
        .await
        .unwrap()
        .into_inner()
        .complaint
        .unwrap();
    assert_eq!(
        seen.status,
        pb::ComplaintStatus::Closed as i32,
        "the officer sees the closure"
    );

    let mut r = registry(&server).await;
    let all = r
        .officer_report(as_role(
            pb::OfficerReportRequest {
                officer: String::new(),
                min_position: closed.position,
            },
            "supervisor",
        ))
        .await
        .expect("reports per officer and kind")
        .into_inner();
    assert_eq!(all.officers.len(), 5, "every registered officer");
    let row = all
        .officers
        .iter()
        .find(|o| o.officer == "TYG-SAMPLE-002")
        .unwrap();
    assert_eq!(row.kind, "business");
    assert_eq!(row.complaint_ids, std::slice::from_ref(&id));
    let of_officer = server
        .queries()
        .await
        .count_ledger(as_role(
            pb::CountLedgerRequest {
                filter: Some(pb::LedgerFilter {
                    officer_id: "TYG-SAMPLE-002".into(),
                    ..Default::default()
                }),
                group_by: vec![pb::LedgerDimension::Status as i32],
                min_position: closed.position,
            },
            "supervisor",
        ))
        .await
        .expect("the ledger's count by officer")
        .into_inner();
    assert_eq!(of_officer.total, 1);
    let tally = row.tally.unwrap();
    assert_eq!((tally.reports, tally.acknowledged, tally.warned), (1, 1, 1));
    assert_eq!((tally.closed, tally.callbacks, tally.satisfied), (1, 1, 1));
    assert_eq!(tally.median_minutes_to_acknowledge, Some(100));
    let kinds: Vec<(&str, u32)> = all
        .kinds
        .iter()
        .map(|k| (k.kind.as_str(), k.tally.unwrap().reports))
        .collect();
    assert_eq!(kinds, [("business", 1)]);

    let mine = r
        .officer_report(as_officer(
            pb::OfficerReportRequest::default(),
            "TYG-SAMPLE-002",
        ))
        .await
        .expect("the officer's own row")
        .into_inner();
    assert_eq!(mine.officers.len(), 1);
    assert!(mine.kinds.is_empty());
    let theirs = r
        .officer_report(as_officer(
            pb::OfficerReportRequest {
                officer: "TYG-SAMPLE-001".into(),
                min_position: 0,
            },
            "TYG-SAMPLE-002",
        ))
        .await
        .expect_err("not another officer's");
    assert_eq!(theirs.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn a_station_imported_just_before_its_first_scan_is_known_to_it() {
    // The intake checks the station against the mechanisms view, which
    // follows the log: a scan right after the import must not be refused
    // because the view has not applied the import yet. The window is a few
    // milliseconds, so on an idle machine the view usually wins the race;
    // on a loaded one (where the browser test once met it) it does not.
    let server = Server::fresh();
    let mut r = registry(&server).await;
    let mut c = server.complaints().await;
    for n in 0..20 {
        let code = format!("sample-new-station-{n}");
        r.import_registry(as_role(
            pb::ImportRegistryRequest {
                kind: pb::RegistryKind::Station as i32,
                csv: format!("code,name,district,unit\n{code},新设便民服务站{n}（样例）,dongsheng,dongsheng-gov\n"),
            },
            "dispatcher",
        ))
        .await
        .expect("import one station");
        c.submit_complaint(as_role(
            pb::SubmitComplaintRequest {
                channel: pb::Channel::QrCode as i32,
                station_code: code.clone(),
                ..submit_request("扫码反馈")
            },
            "portal",
        ))
        .await
        .unwrap_or_else(|e| panic!("a scan at {code} right after its import: {e}"));
    }
    // An unregistered one is still refused, naming it.
    let error = c
        .submit_complaint(as_role(
            pb::SubmitComplaintRequest {
                channel: pb::Channel::QrCode as i32,
                station_code: "sample-never-registered".into(),
                ..submit_request("扫码反馈")
            },
            "portal",
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), tonic::Code::InvalidArgument);
    assert!(
        error.message().contains("sample-never-registered"),
        "{error:?}"
    );
}
