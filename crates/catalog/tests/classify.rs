//! Classification accuracy on a labelled set written from the plan's tasks.

use rectify_catalog::Catalog;

const LABELLED: &str = include_str!("labelled.tsv");

#[test]
fn suggestions_rank_the_right_area_near_the_top() {
    let catalog = Catalog::embedded().unwrap();
    let (mut top1, mut top3, mut total) = (0, 0, 0);
    for line in LABELLED
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let (area, text) = line.split_once('\t').expect("area<TAB>text");
        assert!(
            catalog.area(area).is_some(),
            "unknown area {area} in the fixture"
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
                "miss: {area} ← {text} (got {:?})",
                suggestions.iter().map(|s| &s.area).collect::<Vec<_>>()
            );
        }
    }
    let (p1, p3) = (
        f64::from(top1) / f64::from(total),
        f64::from(top3) / f64::from(total),
    );
    println!("classification on {total} labelled texts: top-1 {p1:.2}, top-3 {p3:.2}");
    assert!(total >= 40);
    assert!(p3 >= 0.7, "top-3 accuracy {p3:.2}");
    assert!(p1 >= 0.5, "top-1 accuracy {p1:.2}");
}

#[test]
fn empty_or_unrelated_text_suggests_nothing() {
    let catalog = Catalog::embedded().unwrap();
    assert!(catalog.suggest_areas("", 3).is_empty());
    assert!(catalog.suggest_areas("12345 !!!", 3).is_empty());
}
