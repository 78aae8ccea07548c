//! A log that is changed after it signed: a changed event, a removed event
//! and a fork are each caught by what a client holds (signed checkpoints,
//! receipts) and the proofs the log must give, and the error names which.

use rectify_transparency::{
    Checkpoint, Hash, Leaf, MemoryTree, Receipt, ReceiptError, Signer, Verifier, VerifyError,
    open_checkpoint, sign_checkpoint,
};

const ORIGIN: &str = "rectify.test/log";

/// The event at `position` of an honest log.
fn event(position: u64) -> Leaf {
    Leaf {
        position,
        event_id: (position as u128).to_be_bytes(),
        stream: format!("complaint-{}", position % 5),
        event_type: "ComplaintReceived".into(),
        event_hash: [position as u8; 32],
    }
}

/// A log as its operator keeps it: the events and the tree over them.
struct Log {
    events: Vec<Leaf>,
    tree: MemoryTree,
}

impl Log {
    fn new(events: Vec<Leaf>) -> Log {
        let mut tree = MemoryTree::new();
        for event in &events {
            tree.append(event.hash().unwrap()).unwrap();
        }
        Log { events, tree }
    }

    fn honest(size: u64) -> Log {
        Log::new((1..=size).map(event).collect())
    }

    /// The signed checkpoint at the current size, as a client receives it.
    fn checkpoint(&self, signer: &Signer) -> String {
        let size = self.tree.size();
        let checkpoint = Checkpoint {
            origin: ORIGIN.into(),
            size,
            root: self.tree.root(size).unwrap(),
            extensions: vec![],
        };
        sign_checkpoint(&checkpoint, &[signer]).unwrap()
    }

    fn consistency(&self, old: u64) -> Vec<Hash> {
        self.tree.consistency_proof(old, self.tree.size()).unwrap()
    }

    fn inclusion(&self, position: u64) -> Vec<Hash> {
        self.tree
            .inclusion_proof(position - 1, self.tree.size())
            .unwrap()
    }
}

struct Client {
    verifiers: Vec<Verifier>,
}

impl Client {
    fn open(&self, note: &str) -> Checkpoint {
        open_checkpoint(note, &self.verifiers).expect("the log's own key signed it")
    }
}

fn setup() -> (Signer, Client, Log, Checkpoint, Vec<Receipt>) {
    let signer = Signer::new(ORIGIN, [42; 32]).unwrap();
    let client = Client {
        verifiers: vec![signer.verifier()],
    };
    let log = Log::honest(20);
    let receipts = log
        .events
        .iter()
        .map(|e| Receipt::issue(ORIGIN, e.clone(), 1_764_500_000, &signer).unwrap())
        .collect();
    let trusted = client.open(&log.checkpoint(&signer));
    (signer, client, log, trusted, receipts)
}

#[test]
fn the_honest_log_passes_every_check() {
    let (signer, client, mut log, trusted, receipts) = setup();
    for (i, receipt) in receipts.iter().enumerate() {
        receipt.verify(&client.verifiers).unwrap();
        receipt.check_entry(&log.events[i]).unwrap();
        receipt
            .verify_in(&trusted, &log.inclusion(i as u64 + 1))
            .unwrap();
    }
    for position in 21..=27 {
        log.events.push(event(position));
        log.tree.append(event(position).hash().unwrap()).unwrap();
    }
    let newer = client.open(&log.checkpoint(&signer));
    newer
        .verify_extends(&trusted, &log.consistency(20))
        .unwrap();
}

#[test]
fn a_changed_event_is_named() {
    let (signer, client, log, trusted, receipts) = setup();
    let mut events = log.events.clone();
    events[6].event_hash[0] ^= 1; // position 7
    events.extend((21..=25).map(event));
    let forged = Log::new(events);
    let newer = client.open(&forged.checkpoint(&signer));

    // The new checkpoint does not extend the one the client trusts.
    assert_eq!(
        newer.verify_extends(&trusted, &forged.consistency(20)),
        Err(VerifyError::OldRootMismatch {
            old_size: 20,
            new_size: 25
        })
    );
    // The event the log now serves is not the one it gave a receipt for.
    assert_eq!(
        receipts[6].check_entry(&forged.events[6]),
        Err(ReceiptError::ChangedEntry { position: 7 })
    );
    // And the receipted event is not in the new tree.
    assert_eq!(
        receipts[6].verify_in(&newer, &forged.inclusion(7)),
        Err(ReceiptError::Inclusion(VerifyError::RootMismatch {
            index: 6,
            size: 25
        }))
    );
    // Events the forgery left alone still check against their receipts.
    receipts[7].check_entry(&forged.events[7]).unwrap();
}

#[test]
fn a_removed_event_is_named() {
    let (signer, client, log, trusted, receipts) = setup();
    // Position 12 is dropped and the later events keep their positions.
    let mut events = log.events.clone();
    events.remove(11);
    let shorter = Log::new(events.clone());
    let newer = client.open(&shorter.checkpoint(&signer));
    assert_eq!(
        newer.verify_extends(&trusted, &[]),
        Err(VerifyError::Shrunk {
            old_size: 20,
            new_size: 19
        })
    );
    // What the log serves at index 11 is the event at position 13.
    assert_eq!(
        receipts[11].check_entry(&shorter.events[11]),
        Err(ReceiptError::PositionMismatch {
            leaf: 13,
            statement: 12
        })
    );
    // Hiding the gap by appending more does not make the new tree extend
    // the trusted one.
    events.extend((21..=30).map(event));
    let padded = Log::new(events);
    let newer = client.open(&padded.checkpoint(&signer));
    assert_eq!(
        newer.verify_extends(&trusted, &padded.consistency(20)),
        Err(VerifyError::OldRootMismatch {
            old_size: 20,
            new_size: 29
        })
    );
}

#[test]
fn a_fork_is_named() {
    let (signer, client, log, trusted, _) = setup();
    // A second history shares the first 15 events and then differs, and the
    // log signs a checkpoint of the same size for it.
    let mut events = log.events[..15].to_vec();
    events.extend((16..=20).map(|p| {
        let mut e = event(p);
        e.stream = "complaint-forked".into();
        e
    }));
    let fork = Log::new(events);
    let other = client.open(&fork.checkpoint(&signer));
    assert_eq!((other.size, other.origin.as_str()), (20, ORIGIN));
    assert_eq!(
        other.verify_extends(&trusted, &[]),
        Err(VerifyError::Fork { size: 20 })
    );
    // The two signed notes together are the evidence: both open with the
    // log's key and disagree at one size.
    assert_ne!(other.root, trusted.root);
    // A client that only sees the fork later, at a larger size, is not
    // shown a tree that extends its checkpoint either.
    let mut grown = fork.events.clone();
    grown.extend((21..=24).map(event));
    let grown = Log::new(grown);
    let newer = client.open(&grown.checkpoint(&signer));
    assert_eq!(
        newer.verify_extends(&trusted, &grown.consistency(20)),
        Err(VerifyError::OldRootMismatch {
            old_size: 20,
            new_size: 24
        })
    );
}

#[test]
fn checkpoints_of_another_log_are_not_compared() {
    let (_, _, _, trusted, _) = setup();
    let mut other = trusted.clone();
    other.origin = "elsewhere.test/log".into();
    assert!(matches!(
        other.verify_extends(&trusted, &[]),
        Err(VerifyError::OriginMismatch { .. })
    ));
}
