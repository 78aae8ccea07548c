//! The city's own mechanisms through the real server: the registries
//! imported from spreadsheet files, grassroots stations' QR codes and the
//! station ranking.

use std::path::{Path, PathBuf};

use rectify::pb::{self, registry_service_client::RegistryServiceClient};
use tonic::{Code, transport::Channel};

use crate::support::{
    Server, accept, as_role, callback, classify_and_dispatch, cli, record_callback, resolve,
    submit_request, verify,
};

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
}
