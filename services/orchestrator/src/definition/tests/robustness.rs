//! Arbitrary input is refused with a reason, never a panic.

use proptest::prelude::*;

use super::super::{CronSchedule, Expression, Template, parse_duration, parse_files};

proptest! {
    #[test]
    fn expressions_templates_durations_and_cron_never_panic(text in "\\PC{0,40}") {
        let _ = Expression::parse(&text);
        let _ = Template::parse(&text);
        let _ = parse_duration(&text);
        let _ = CronSchedule::parse(&text);
    }

    #[test]
    fn expressions_of_the_language_alphabet_never_panic(
        text in "(params\\.n|tasks\\.a\\.outputs\\.k|run\\.id|1|-2\\.5|'s'|true|not|and|or|==|!=|>=|<|\\(|\\)| ){0,12}"
    ) {
        if let Ok(expression) = Expression::parse(&text) {
            let _ = expression.evaluate(&Default::default());
        }
    }

    #[test]
    fn yaml_never_panics(text in "(name: p\n|tasks:\n|  - |id: a|kind: command|argv: \\[x\\]|depends_on: \\[a\\]|\n|---\n|\\{|\\}|: ){0,16}") {
        let _ = parse_files([("p.yaml", text.as_str())]);
    }
}
