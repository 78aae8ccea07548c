//! Two pieces of work on the machine's two cores: the scans that are bound
//! by fetching rows from memory (the evaluation's tally, the watcher's full
//! scan) split their rows in halves and run one on a second thread.

/// Runs `front` on this thread and `back` on a scoped second thread, and
/// returns both results; a panic in `back` resumes here.
pub(crate) fn join<A, B: Send>(
    front: impl FnOnce() -> A,
    back: impl FnOnce() -> B + Send,
) -> (A, B) {
    std::thread::scope(|scope| {
        let back = scope.spawn(back);
        let front = front();
        let back = back
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (front, back)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn both_halves_come_back_in_their_places() {
        let rows: Vec<u32> = (1..=10).collect();
        let (front, back) = rows.split_at(4);
        let (a, b) = super::join(|| front.iter().sum::<u32>(), || back.iter().sum::<u32>());
        assert_eq!((a, b), (10, 45));
    }
}
