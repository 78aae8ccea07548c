//! Task-area suggestions from Chinese text: jieba word segmentation in search
//! mode (a long word also yields its sub-words, so a caller's 供电所 meets the
//! plan's 供电) and a
//! TF-IDF weighting of each area's vocabulary (its keywords, name and task
//! texts), plus a bonus for every area keyword found verbatim in the text.
//!
//! score(area, text) = Σ over distinct words w of the text, tf(area, w) · idf(w)
//!                    + KEYWORD_BONUS · (area keywords occurring in the text)
//!
//! where tf is the word's share of the area's vocabulary (keywords count
//! [`KEYWORD_WEIGHT`] times) and idf(w) = ln((N + 1) / (df(w) + 1)) + 1 over
//! the N areas. Only the ranking is meaningful, not the scores.

use std::collections::{BTreeMap, BTreeSet};

use jieba_rs::Jieba;

use crate::Area;

/// How many times a keyword counts in its area's vocabulary.
const KEYWORD_WEIGHT: usize = 4;
/// Score added per area keyword found verbatim in the text.
const KEYWORD_BONUS: f64 = 0.05;
/// Longest text classified, in characters (the rest is ignored).
const MAX_TEXT_CHARS: usize = 4_000;

pub(crate) struct Classifier {
    jieba: Jieba,
    /// Per area: word → term frequency.
    tf: Vec<BTreeMap<String, f64>>,
    idf: BTreeMap<String, f64>,
    keywords: Vec<Vec<String>>,
}

impl std::fmt::Debug for Classifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Classifier")
            .field("areas", &self.tf.len())
            .field("vocabulary", &self.idf.len())
            .finish()
    }
}

/// Whether a segment is a content word: two or more characters, not all
/// digits or punctuation.
fn is_word(word: &str) -> bool {
    word.chars().count() >= 2 && word.chars().any(|c| c.is_alphabetic())
}

fn words(jieba: &Jieba, text: &str) -> Vec<String> {
    let text: String = text.chars().take(MAX_TEXT_CHARS).collect();
    jieba
        .cut_for_search(&text, true)
        .into_iter()
        .filter(|w| is_word(w))
        .map(str::to_owned)
        .collect()
}

impl Classifier {
    pub(crate) fn new(areas: &[Area]) -> Self {
        let jieba = Jieba::new();
        let mut tf = Vec::with_capacity(areas.len());
        let mut df: BTreeMap<String, usize> = BTreeMap::new();
        for area in areas {
            let mut counts: BTreeMap<String, usize> = BTreeMap::new();
            for keyword in &area.keywords {
                *counts.entry(keyword.clone()).or_default() += KEYWORD_WEIGHT;
            }
            let name = area.name.trim_end_matches('组');
            for word in words(&jieba, name) {
                *counts.entry(word).or_default() += KEYWORD_WEIGHT;
            }
            for task in &area.tasks {
                for word in words(&jieba, &task.text) {
                    *counts.entry(word).or_default() += 1;
                }
            }
            let total = counts.values().sum::<usize>().max(1) as f64;
            for word in counts.keys() {
                *df.entry(word.clone()).or_default() += 1;
            }
            tf.push(
                counts
                    .into_iter()
                    .map(|(w, c)| (w, c as f64 / total))
                    .collect(),
            );
        }
        let n = areas.len() as f64;
        let idf = df
            .into_iter()
            .map(|(w, d)| (w, ((n + 1.0) / (d as f64 + 1.0)).ln() + 1.0))
            .collect();
        Self {
            jieba,
            tf,
            idf,
            keywords: areas.iter().map(|a| a.keywords.clone()).collect(),
        }
    }

    /// Area indexes with positive scores, best first, at most `limit`.
    pub(crate) fn rank(&self, text: &str, limit: usize) -> Vec<(usize, f64)> {
        let query: BTreeSet<String> = words(&self.jieba, text).into_iter().collect();
        let mut scores: Vec<(usize, f64)> = self
            .tf
            .iter()
            .enumerate()
            .map(|(index, tf)| {
                let mut score: f64 = query
                    .iter()
                    .filter_map(|w| Some(tf.get(w)? * self.idf.get(w)?))
                    .sum();
                score += KEYWORD_BONUS
                    * self.keywords[index]
                        .iter()
                        .filter(|k| text.contains(k.as_str()))
                        .count() as f64;
                (index, score)
            })
            .filter(|(_, score)| *score > 0.0)
            .collect();
        scores.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scores.truncate(limit);
        scores
    }
}
