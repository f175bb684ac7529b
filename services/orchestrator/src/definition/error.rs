//! The problems found in pipeline definitions: each names the file, the path in it and the reason.

use std::fmt;

/// One thing wrong with a definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file as the caller named it.
    pub file: String,
    /// The 1-based YAML document in the file, when the file holds more than one.
    pub document: Option<usize>,
    /// Where in the document: `pipelines[0].tasks[2].depends_on[1]`, `tasks.train.when`; empty
    /// for the document as a whole.
    pub path: String,
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(document) = self.document {
            write!(f, " (document {document})")?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Every problem found in a set of definitions; none of them is accepted while any remain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.len();
        write!(
            f,
            "{count} problem{} in the pipeline definitions",
            if count == 1 { "" } else { "s" }
        )?;
        for problem in &self.0 {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}

/// Collects the problems of one YAML document while it is read.
#[derive(Debug)]
pub(crate) struct Collector {
    file: String,
    document: Option<usize>,
    pub(crate) problems: Vec<Problem>,
}

impl Collector {
    pub(crate) fn new(file: &str, document: Option<usize>) -> Collector {
        Collector {
            file: file.to_owned(),
            document,
            problems: Vec::new(),
        }
    }

    pub(crate) fn report(&mut self, path: &str, reason: impl Into<String>) {
        self.problems.push(Problem {
            file: self.file.clone(),
            document: self.document,
            path: path.to_owned(),
            reason: reason.into(),
        });
    }
}

/// `parent.key`, or `key` at the top.
pub(crate) fn key_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// `parent[index]`.
pub(crate) fn index_path(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

/// The known word nearest to `word` by edit distance, if it is near enough to be a likely typo.
pub(crate) fn closest<'k>(word: &str, known: &[&'k str]) -> Option<&'k str> {
    let (distance, best) = known
        .iter()
        .map(|candidate| (edit_distance(word, candidate), *candidate))
        .min_by_key(|(distance, _)| *distance)?;
    (distance <= (word.chars().count() / 2).max(2)).then_some(best)
}

/// `(did you mean 'x'?)` or, with no near word, the list of known words.
pub(crate) fn suggestion(word: &str, known: &[&str]) -> String {
    match closest(word, known) {
        Some(best) => format!("did you mean '{best}'?"),
        None => format!("expected one of: {}", known.join(", ")),
    }
}

/// Levenshtein distance over characters.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}
