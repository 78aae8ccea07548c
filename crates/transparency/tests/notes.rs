//! Signed checkpoints and receipts: the Go `sumdb/note` reference note,
//! round trips, and each way a note or a receipt is refused.

use rectify_transparency::checkpoint::{NOTE_MAX_SIGNATURES, key_id, open_note, sign_note};
use rectify_transparency::{
    Checkpoint, EntryStatement, Leaf, LeafError, NoteError, Receipt, ReceiptError, Signer,
    Verifier, VerifyError, open_checkpoint, sign_checkpoint,
};

/// The example of `golang.org/x/mod/sumdb/note` (its package doc and
/// `note_test.go`): keys, text and the signed note Go writes.
const GO_SIGNER: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const GO_VERIFIER: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                       then you don't know what your problem is.\n";
const GO_NOTE: &str = "If you think cryptography is the answer to your problem,\n\
                       then you don't know what your problem is.\n\
                       \n\
                       \u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

const ORIGIN: &str = "rectify.test/log";

fn signer(seed: u8) -> Signer {
    Signer::new(ORIGIN, [seed; 32]).unwrap()
}

fn checkpoint() -> Checkpoint {
    Checkpoint {
        origin: ORIGIN.into(),
        size: 12345,
        root: [7; 32],
        extensions: vec![],
    }
}

#[test]
fn go_reference_note_is_reproduced_and_opened() {
    let signer = Signer::from_key_string(GO_SIGNER).unwrap();
    assert_eq!(signer.key_id(), 0xc74f20a3);
    assert_eq!(signer.to_key_string(), GO_SIGNER);
    let verifier: Verifier = GO_VERIFIER.parse().unwrap();
    assert_eq!(signer.verifier(), verifier);
    assert_eq!(verifier.to_string(), GO_VERIFIER);
    // Ed25519 is deterministic, so the same key and text give Go's bytes.
    assert_eq!(sign_note(GO_TEXT, &[&signer]).unwrap(), GO_NOTE);
    let opened = open_note(GO_NOTE, &[verifier]).unwrap();
    assert_eq!(opened.text, GO_TEXT);
    assert_eq!(
        opened.verified_by,
        [("PeterNeumann".to_owned(), 0xc74f20a3)]
    );
}

/// The Go checksum database's public key, as `cmd/go` pins it.
const SUMDB_VERIFIER: &str = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8";

/// Two checkpoints sum.golang.org signed, as published (quoted in public
/// test suites of sumdb clients).
const SUMDB_CHECKPOINTS: [(&str, u64); 2] = [
    (
        "go.sum database tree\n31700353\nqINS1GRFhWHwdkUeqLEoP4yEMkTBBzxBkGwGQlVlVcs=\n\n\
         \u{2014} sum.golang.org Az3grnmrIUEDFqHzAElIQCPNoRFRAAdFo47fooyWKMHb89k11GJh5zHIfNCOBmwn/C3YI8oW9/C8DJ87F61QqspBYwM=\n",
        31_700_353,
    ),
    (
        "go.sum database tree\n65209736\n5+uGFjx6xBZG8ip1+wi77v+grwbhhukIrxEUS8PXvRo=\n\n\
         \u{2014} sum.golang.org Az3grnbssgK7ubgFX36gVETtNv0U23qxyAhAMai2QUfeGa3nB/akvkMdlUErfcZz7l/R3cVtYspg3dxXABkGZZKdsQ8=\n",
        65_209_736,
    ),
];

#[test]
fn checkpoints_signed_by_the_go_checksum_database_open() {
    let verifier: Verifier = SUMDB_VERIFIER.parse().unwrap();
    assert_eq!(verifier.to_string(), SUMDB_VERIFIER);
    for (note, size) in SUMDB_CHECKPOINTS {
        let checkpoint = open_checkpoint(note, std::slice::from_ref(&verifier)).unwrap();
        assert_eq!(checkpoint.origin, "go.sum database tree");
        assert_eq!(checkpoint.size, size);
        let forged = note.replacen(&size.to_string(), &(size + 1).to_string(), 1);
        assert!(matches!(
            open_checkpoint(&forged, std::slice::from_ref(&verifier)),
            Err(NoteError::BadSignature { .. })
        ));
    }
}

#[test]
fn checkpoint_body_is_the_c2sp_format() {
    let mut cp = checkpoint();
    cp.root = [0; 32];
    assert_eq!(
        cp.body().unwrap(),
        "rectify.test/log\n12345\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
    );
    cp.extensions = vec!["Timestamp: 1764500000".into()];
    let body = cp.body().unwrap();
    assert!(body.ends_with("=\nTimestamp: 1764500000\n"));
    assert_eq!(Checkpoint::parse(&body).unwrap(), cp);
}

#[test]
fn malformed_checkpoint_bodies_are_refused() {
    let root = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let cases = [
        format!("o\n12\n{root}"),
        format!("o\n012\n{root}\n"),
        format!("o\n+12\n{root}\n"),
        format!("o\n\n{root}\n"),
        format!("o\n18446744073709551616\n{root}\n"),
        "o\n12\nAAAA\n".to_owned(),
        "o\n12\n".to_owned(),
        format!("\n12\n{root}\n"),
        format!("o\n12\n{root}\n\n"),
    ];
    for body in cases {
        assert!(
            matches!(
                Checkpoint::parse(&body),
                Err(NoteError::MalformedCheckpoint(_))
            ),
            "{body:?}"
        );
    }
    assert_eq!(
        Checkpoint::parse(&format!("o\n0\n{root}\n")).unwrap().size,
        0
    );
}

#[test]
fn signed_checkpoint_round_trips() {
    let s = signer(1);
    let note = sign_checkpoint(&checkpoint(), &[&s]).unwrap();
    assert!(note.contains("\n\n\u{2014} rectify.test/log "));
    assert_eq!(
        open_checkpoint(&note, &[s.verifier()]).unwrap(),
        checkpoint()
    );
}

#[test]
fn a_note_signed_only_by_unknown_keys_is_refused() {
    let note = sign_checkpoint(&checkpoint(), &[&signer(1)]).unwrap();
    let other = signer(2).verifier();
    let err = open_checkpoint(&note, &[other]).unwrap_err();
    let NoteError::UnknownKey { signed_by } = err else {
        panic!("{err:?}")
    };
    assert_eq!(signed_by, [format!("{ORIGIN}+{:08x}", signer(1).key_id())]);
    assert!(matches!(
        open_checkpoint(&note, &[]),
        Err(NoteError::UnknownKey { .. })
    ));
}

#[test]
fn a_modified_body_fails_its_signature() {
    let s = signer(1);
    let note = sign_checkpoint(&checkpoint(), &[&s]).unwrap();
    let forged = note.replacen("12345", "12346", 1);
    assert_eq!(
        open_checkpoint(&forged, &[s.verifier()]),
        Err(NoteError::BadSignature {
            name: ORIGIN.into(),
            key_id: s.key_id()
        })
    );
}

#[test]
fn malformed_notes_are_refused() {
    let s = signer(1);
    let note = sign_checkpoint(&checkpoint(), &[&s]).unwrap();
    let v = [s.verifier()];
    let cases = [
        note.trim_end().to_owned(),
        note.replacen("\n\n", "\n", 1),
        note.replace('\u{2014}', "-"),
        note.replacen(&format!("{ORIGIN} "), &format!("{ORIGIN}  "), 1),
        format!("{note}\u{2014} x !!!!\n"),
        format!("{note}\u{2014} x AAAA\n"),
        format!("\t{note}"),
    ];
    for bad in cases {
        assert!(
            matches!(open_checkpoint(&bad, &v), Err(NoteError::MalformedNote(_))),
            "{bad:?} gave {:?}",
            open_checkpoint(&bad, &v)
        );
    }
    let huge = format!("{}\n{note}", "x".repeat(70_000));
    assert!(matches!(
        open_checkpoint(&huge, &v),
        Err(NoteError::TooLarge { .. })
    ));
    let signers: Vec<Signer> = (0..=NOTE_MAX_SIGNATURES as u8).map(signer).collect();
    let all: Vec<&Signer> = signers.iter().collect();
    let crowded = sign_checkpoint(&checkpoint(), &all).unwrap();
    assert_eq!(
        open_checkpoint(&crowded, &v),
        Err(NoteError::TooManySignatures)
    );
}

#[test]
fn a_signed_note_that_is_not_a_checkpoint_is_refused() {
    let s = signer(1);
    let note = sign_note("hello\n", &[&s]).unwrap();
    assert!(matches!(
        open_checkpoint(&note, &[s.verifier()]),
        Err(NoteError::MalformedCheckpoint(_))
    ));
}

#[test]
fn rotation_signs_with_both_keys_and_either_verifies() {
    let (old, new) = (signer(1), signer(2));
    assert_ne!(old.key_id(), new.key_id(), "same name, new key, new id");
    let note = sign_checkpoint(&checkpoint(), &[&old, &new]).unwrap();
    for known in [
        vec![old.verifier()],
        vec![new.verifier()],
        vec![old.verifier(), new.verifier()],
    ] {
        assert_eq!(open_checkpoint(&note, &known).unwrap(), checkpoint());
    }
    let opened = open_note(&note, &[old.verifier(), new.verifier()]).unwrap();
    assert_eq!(opened.verified_by.len(), 2);
    // After the handover only the new key signs; a client that still knows
    // only the old key refuses the note.
    let after = sign_checkpoint(&checkpoint(), &[&new]).unwrap();
    assert!(matches!(
        open_checkpoint(&after, &[old.verifier()]),
        Err(NoteError::UnknownKey { .. })
    ));
}

#[test]
fn verifier_key_strings_round_trip_and_are_checked() {
    let v = signer(3).verifier();
    let text = v.to_string();
    assert_eq!(text.parse::<Verifier>().unwrap(), v);
    assert_eq!(v.key_id(), key_id(ORIGIN, &v.public_key()));
    let (name, rest) = text.split_once('+').unwrap();
    let (id, key) = rest.split_once('+').unwrap();
    let wrong_id = format!("{name}+{:08x}+{key}", v.key_id() ^ 1);
    assert!(matches!(
        wrong_id.parse::<Verifier>(),
        Err(NoteError::KeyIdMismatch { .. })
    ));
    for bad in [
        format!("{name}+{id}"),
        format!("{name}+{id}+{key}+x"),
        format!("{name}+{}+{key}", &id[1..]),
        format!("{name}+{id}+AgAA"),
        format!("{name}+{id}+{}", &key[4..]),
    ] {
        assert!(
            matches!(bad.parse::<Verifier>(), Err(NoteError::MalformedKey(_))),
            "{bad}"
        );
    }
    assert!(matches!(
        format!("a b+{id}+{key}").parse::<Verifier>(),
        Err(NoteError::InvalidKeyName(_))
    ));
    assert!(Signer::new("", [0; 32]).is_err());
    assert!(Signer::new("a+b", [0; 32]).is_err());
    let s = signer(4);
    let parsed = Signer::from_key_string(&s.to_key_string()).unwrap();
    assert_eq!(parsed.verifier(), s.verifier());
    assert!(!format!("{s:?}").contains(&s.to_key_string()[30..]));
}

fn leaf() -> Leaf {
    Leaf {
        position: 42,
        event_id: [9; 16],
        stream: "complaint-42".into(),
        event_type: "ComplaintClassified".into(),
        event_hash: [3; 32],
    }
}

#[test]
fn receipts_verify_and_name_what_is_wrong() {
    let s = signer(1);
    let receipt = Receipt::issue(ORIGIN, leaf(), 1_764_500_000, &s).unwrap();
    receipt.verify(&[s.verifier()]).unwrap();
    assert!(matches!(
        receipt.verify(&[signer(2).verifier()]),
        Err(ReceiptError::UnknownKey { .. })
    ));
    let mut later = receipt.clone();
    later.signed.statement.time_unix_s += 1;
    assert!(matches!(
        later.verify(&[s.verifier()]),
        Err(ReceiptError::BadSignature { .. })
    ));
    let mut changed = leaf();
    changed.event_hash[0] ^= 1;
    assert_eq!(
        receipt.check_entry(&changed),
        Err(ReceiptError::ChangedEntry { position: 42 })
    );
    let mut moved = leaf();
    moved.position = 43;
    assert_eq!(
        receipt.check_entry(&moved),
        Err(ReceiptError::PositionMismatch {
            leaf: 43,
            statement: 42
        })
    );
    let mut zero = receipt.clone();
    zero.signed.statement.position = 0;
    assert_eq!(
        zero.verify_in(&checkpoint(), &[]),
        Err(ReceiptError::Leaf(LeafError::ZeroPosition))
    );
    let mut elsewhere = checkpoint();
    elsewhere.origin = "other.test/log".into();
    assert!(matches!(
        receipt.verify_in(&elsewhere, &[]),
        Err(ReceiptError::OriginMismatch { .. })
    ));
    let mut small = checkpoint();
    small.size = 41;
    assert_eq!(
        receipt.verify_in(&small, &[]),
        Err(ReceiptError::Inclusion(VerifyError::IndexOutOfRange {
            index: 41,
            size: 41
        }))
    );
}

#[test]
fn a_receipt_signature_is_never_a_checkpoint_signature() {
    let s = signer(1);
    let statement = EntryStatement {
        origin: ORIGIN.into(),
        position: 1,
        leaf_hash: [0; 32],
        time_unix_s: 0,
    };
    let bytes = statement.encode().unwrap();
    assert_eq!(&bytes[..27], b"rectify entry statement v1\0");
    // The NUL makes the statement no note text, so no checkpoint parses
    // from what a receipt signs.
    let context = std::str::from_utf8(&bytes[..27]).unwrap();
    assert_eq!(
        sign_note(&format!("{context}\n"), &[&s]),
        Err(NoteError::MalformedNote(
            "the text holds a control character"
        ))
    );
}
