//! Classification accuracy on two labelled sets: `labelled.tsv`, written from
//! the plan's task descriptions, and `hotline.tsv`, callers' own words written
//! without copying the plan (harder, closer to real texts).

use rectify_catalog::Catalog;

const LABELLED: &str = include_str!("labelled.tsv");
const HOTLINE: &str = include_str!("hotline.tsv");

fn catalog() -> &'static Catalog {
    static CATALOG: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
    CATALOG.get_or_init(|| Catalog::embedded().expect("the embedded seeds load"))
}

/// Top-1 and top-3 accuracy on a `area<TAB>text` fixture; prints misses.
fn accuracy(name: &str, fixture: &str) -> (f64, f64, usize) {
    let catalog = catalog();
    let (mut top1, mut top3, mut total) = (0u32, 0u32, 0u32);
    for line in fixture
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let (area, text) = line.split_once('\t').expect("area<TAB>text");
        assert!(
            catalog.area(area).is_some(),
            "unknown area {area} in {name}"
        );
        let suggestions = catalog.suggest_areas(text, 3);
        total += 1;
        if suggestions.first().is_some_and(|s| s.area == area) {
            top1 += 1;
        }
        if suggestions.iter().any(|s| s.area == area) {
            top3 += 1;
        } else {
            println!(
                "{name} miss: {area} ← {text} (got {:?})",
                suggestions.iter().map(|s| &s.area).collect::<Vec<_>>()
            );
        }
    }
    let (p1, p3) = (
        f64::from(top1) / f64::from(total),
        f64::from(top3) / f64::from(total),
    );
    println!("{name}: {total} labelled texts, top-1 {p1:.2}, top-3 {p3:.2}");
    (p1, p3, total as usize)
}

#[test]
fn texts_written_from_the_plan_rank_the_right_area_near_the_top() {
    let (p1, p3, total) = accuracy("labelled.tsv", LABELLED);
    assert!(total >= 40);
    assert!(p3 >= 0.7, "top-3 accuracy {p3:.2}");
    assert!(p1 >= 0.5, "top-1 accuracy {p1:.2}");
}

#[test]
fn callers_own_words_still_rank_the_right_area_often() {
    let (p1, p3, total) = accuracy("hotline.tsv", HOTLINE);
    assert!(total >= 30);
    // Floors under the measured 0.67 / 0.85 (docs/routing.md): a regression
    // guard, not a target.
    assert!(p3 >= 0.75, "top-3 accuracy {p3:.2}");
    assert!(p1 >= 0.55, "top-1 accuracy {p1:.2}");
}

#[test]
fn empty_or_unrelated_text_suggests_nothing() {
    let catalog = catalog();
    assert!(catalog.suggest_areas("", 3).is_empty());
    assert!(catalog.suggest_areas("12345 !!!", 3).is_empty());
}
