//! What a run does next, decided from its pipeline and the states of its task instances: a
//! pure function, so the rules (trigger rules, `when:`, parallel slots, the run's end) are
//! tested without a database.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};

use super::states::{RunState, TaskState};
use crate::definition::{Context, Pipeline, Task, TriggerRule};

/// A task instance as the decision sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub state: TaskState,
    /// The outputs of a task that succeeded.
    pub outputs: Option<Map<String, Json>>,
}

/// A change of one task instance's state, with why.
#[derive(Debug, Clone, PartialEq)]
pub struct Move {
    pub task: String,
    pub to: TaskState,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub moves: Vec<Move>,
    /// The run's state after the moves: `Some` when every task is finished.
    pub finished: Option<RunState>,
}

/// The facts of a run that conditions and templates reach, besides task outputs.
pub struct RunFacts<'a> {
    pub params: &'a BTreeMap<String, Json>,
    pub run_id: &'a str,
    pub logical_date: &'a str,
}

/// Decides the next moves of a running run: pending tasks whose upstream tasks allow it are
/// scheduled (or skipped, or upstream_failed, by their trigger rule and `when:`), scheduled
/// tasks are queued while the run has free parallel slots, and the run ends when every task
/// has finished.
pub fn decide(pipeline: &Pipeline, instances: &BTreeMap<String, Instance>, facts: &RunFacts<'_>) -> Decision {
    let mut states: BTreeMap<&str, TaskState> =
        instances.iter().map(|(id, i)| (id.as_str(), i.state)).collect();
    let context = Context {
        params: facts.params.clone(),
        outputs: instances
            .iter()
            .filter_map(|(id, i)| i.outputs.clone().map(|o| (id.clone(), o)))
            .collect(),
        run_id: facts.run_id.to_owned(),
        logical_date: facts.logical_date.to_owned(),
    };
    let mut moves = Vec::new();
    // Tasks are in the order written and the graph is acyclic, but a task may be written
    // before its upstream tasks: repeat until nothing moves, so a skip travels down a chain in
    // one decision.
    loop {
        let mut moved = false;
        for task in &pipeline.tasks {
            if states.get(task.id.as_str()) != Some(&TaskState::Pending) {
                continue;
            }
            let Some((to, message)) = next_for_pending(task, &states, &context) else {
                continue;
            };
            states.insert(task.id.as_str(), to);
            moves.push(Move {
                task: task.id.clone(),
                to,
                message,
            });
            moved = true;
        }
        if !moved {
            break;
        }
    }
    let active = states.values().filter(|s| s.is_active()).count();
    let mut free = usize::try_from(pipeline.max_parallel_tasks)
        .unwrap_or(usize::MAX)
        .saturating_sub(active);
    for task in &pipeline.tasks {
        if free == 0 {
            break;
        }
        if states.get(task.id.as_str()) == Some(&TaskState::Scheduled) {
            states.insert(task.id.as_str(), TaskState::Queued);
            // A task scheduled by this decision becomes queued: keep one move for it.
            match moves.iter_mut().find(|m| m.task == task.id) {
                Some(earlier) => earlier.to = TaskState::Queued,
                None => moves.push(Move {
                    task: task.id.clone(),
                    to: TaskState::Queued,
                    message: String::new(),
                }),
            }
            free -= 1;
        }
    }
    let finished = states.values().all(|s| s.is_finished()).then(|| {
        let failed = states
            .values()
            .any(|s| matches!(s, TaskState::Failed | TaskState::UpstreamFailed));
        if failed {
            RunState::Failed
        } else {
            RunState::Success
        }
    });
    Decision { moves, finished }
}

/// What a pending task becomes given its direct upstream tasks' states, or `None` while it
/// must wait.
fn next_for_pending(
    task: &Task,
    states: &BTreeMap<&str, TaskState>,
    context: &Context,
) -> Option<(TaskState, String)> {
    let upstream: Vec<TaskState> = task
        .depends_on
        .iter()
        .map(|id| states.get(id.as_str()).copied().unwrap_or(TaskState::Pending))
        .collect();
    let done = upstream.iter().all(|s| s.is_finished());
    let successes = upstream.iter().filter(|s| **s == TaskState::Success).count();
    let failures = upstream
        .iter()
        .filter(|s| matches!(s, TaskState::Failed | TaskState::UpstreamFailed))
        .count();
    let rule = task.trigger_rule;
    let verdict = match rule {
        TriggerRule::AllSuccess if failures > 0 => Verdict::UpstreamFailed,
        TriggerRule::AllSuccess if !done => Verdict::Wait,
        TriggerRule::AllSuccess if successes == upstream.len() => Verdict::Run,
        TriggerRule::AllSuccess => Verdict::Skip,
        TriggerRule::AllDone if done => Verdict::Run,
        TriggerRule::AllFailed if successes > 0 || (done && failures < upstream.len()) => Verdict::Skip,
        TriggerRule::AllFailed if done => Verdict::Run,
        TriggerRule::OneSuccess if successes > 0 => Verdict::Run,
        TriggerRule::OneSuccess if done && failures > 0 => Verdict::UpstreamFailed,
        TriggerRule::OneSuccess if done => Verdict::Skip,
        TriggerRule::OneFailed if failures > 0 => Verdict::Run,
        TriggerRule::OneFailed if done => Verdict::Skip,
        TriggerRule::NoneFailed if failures > 0 => Verdict::UpstreamFailed,
        TriggerRule::NoneFailed if done => Verdict::Run,
        TriggerRule::AllDone
        | TriggerRule::AllFailed
        | TriggerRule::OneSuccess
        | TriggerRule::OneFailed
        | TriggerRule::NoneFailed => Verdict::Wait,
    };
    let rule_name = rule.name();
    match verdict {
        Verdict::Wait => None,
        Verdict::UpstreamFailed => Some((
            TaskState::UpstreamFailed,
            format!("an upstream task failed (trigger rule {rule_name})"),
        )),
        Verdict::Skip => Some((
            TaskState::Skipped,
            format!("its upstream tasks do not meet trigger rule {rule_name}"),
        )),
        Verdict::Run => match &task.when {
            None => Some((TaskState::Scheduled, String::new())),
            Some(when) => match when.evaluate_condition(context) {
                Ok(true) => Some((TaskState::Scheduled, String::new())),
                Ok(false) => Some((TaskState::Skipped, format!("when: `{}` is false", when.source))),
                Err(err) => Some((
                    TaskState::Failed,
                    format!("when: `{}` cannot be evaluated: {err}", when.source),
                )),
            },
        },
    }
}

enum Verdict {
    Wait,
    Run,
    Skip,
    UpstreamFailed,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::definition::parse_files;

    fn pipeline(yaml: &str) -> Pipeline {
        parse_files([("t.yaml", yaml)]).unwrap().remove(0)
    }

    fn decide_with(pipeline: &Pipeline, states: &[(&str, TaskState)]) -> Decision {
        let instances = states
            .iter()
            .map(|(id, state)| {
                let outputs = (*state == TaskState::Success).then(Map::new);
                (
                    (*id).to_owned(),
                    Instance {
                        state: *state,
                        outputs,
                    },
                )
            })
            .collect();
        let params = BTreeMap::new();
        decide(
            pipeline,
            &instances,
            &RunFacts {
                params: &params,
                run_id: "r",
                logical_date: "2027-01-01T00:00:00Z",
            },
        )
    }

    /// What task `c` (downstream of `a` and `b`) becomes, by its trigger rule.
    fn verdict(rule: &str, a: TaskState, b: TaskState) -> Option<TaskState> {
        let p = pipeline(&format!(
            "name: p\ntasks:\n  - {{id: a, kind: command, argv: ['true']}}\n  - {{id: b, kind: command, argv: ['true']}}\n  \
             - {{id: c, kind: command, argv: ['true'], depends_on: [a, b], trigger_rule: {rule}}}\n"
        ));
        let decision = decide_with(&p, &[("a", a), ("b", b), ("c", TaskState::Pending)]);
        decision.moves.iter().find(|m| m.task == "c").map(|m| m.to)
    }

    #[test]
    fn trigger_rules_decide_as_airflow_does() {
        use TaskState::{Failed, Queued, Running, Skipped, Success, UpstreamFailed};
        let cases = [
            ("all_success", Success, Success, Some(Queued)),
            ("all_success", Success, Running, None),
            ("all_success", Failed, Running, Some(UpstreamFailed)),
            ("all_success", Success, Skipped, Some(Skipped)),
            ("all_done", Failed, Skipped, Some(Queued)),
            ("all_done", Success, Running, None),
            ("all_failed", Failed, UpstreamFailed, Some(Queued)),
            ("all_failed", Failed, Success, Some(Skipped)),
            ("one_success", Success, Running, Some(Queued)),
            ("one_success", Failed, Skipped, Some(UpstreamFailed)),
            ("one_success", Skipped, Skipped, Some(Skipped)),
            ("one_failed", Failed, Running, Some(Queued)),
            ("one_failed", Success, Success, Some(Skipped)),
            ("none_failed", Success, Skipped, Some(Queued)),
            ("none_failed", Success, Failed, Some(UpstreamFailed)),
            ("none_failed", Success, Running, None),
        ];
        for (rule, a, b, expected) in cases {
            assert_eq!(verdict(rule, a, b), expected, "{rule} with {a:?}, {b:?}");
        }
    }

    #[test]
    fn a_skip_travels_down_a_chain_in_one_step_and_the_run_ends() {
        // Written bottom-up: the decision still reaches every task.
        let p = pipeline(
            "name: p\ntasks:\n  - {id: c, kind: command, argv: ['true'], depends_on: [b]}\n  \
             - {id: b, kind: command, argv: ['true'], depends_on: [a]}\n  \
             - {id: a, kind: command, argv: ['true'], when: 'run.id == \"other\"'}\n",
        );
        let decision = decide_with(
            &p,
            &[
                ("a", TaskState::Pending),
                ("b", TaskState::Pending),
                ("c", TaskState::Pending),
            ],
        );
        let moved: Vec<(&str, TaskState)> = decision.moves.iter().map(|m| (m.task.as_str(), m.to)).collect();
        assert_eq!(
            moved,
            [
                ("a", TaskState::Skipped),
                ("b", TaskState::Skipped),
                ("c", TaskState::Skipped)
            ]
        );
        assert_eq!(decision.finished, Some(RunState::Success));
    }

    #[test]
    fn queued_tasks_never_exceed_the_runs_parallel_slots() {
        let mut yaml = "name: p\nmax_parallel_tasks: 3\ntasks:\n".to_owned();
        for i in 0..10 {
            yaml.push_str(&format!("  - {{id: t{i}, kind: command, argv: ['true']}}\n"));
        }
        let p = pipeline(&yaml);
        let mut states: Vec<(String, TaskState)> =
            (0..10).map(|i| (format!("t{i}"), TaskState::Pending)).collect();
        states[0].1 = TaskState::Running;
        let borrowed: Vec<(&str, TaskState)> = states.iter().map(|(id, s)| (id.as_str(), *s)).collect();
        let decision = decide_with(&p, &borrowed);
        let queued = decision
            .moves
            .iter()
            .filter(|m| m.to == TaskState::Queued)
            .count();
        let scheduled = decision
            .moves
            .iter()
            .filter(|m| m.to == TaskState::Scheduled)
            .count();
        assert_eq!((queued, scheduled), (2, 7));
        assert_eq!(decision.finished, None);
    }

    #[test]
    fn a_condition_that_cannot_be_evaluated_fails_its_task_and_the_run() {
        let p = pipeline(
            "name: p\ntasks:\n  - {id: a, kind: command, argv: ['true']}\n  \
             - {id: b, kind: command, argv: ['true'], depends_on: [a], when: 'tasks.a.outputs.accuracy > 0.9'}\n",
        );
        let decision = decide_with(&p, &[("a", TaskState::Success), ("b", TaskState::Pending)]);
        assert_eq!(decision.moves[0].to, TaskState::Failed);
        assert!(
            decision.moves[0].message.contains("cannot be evaluated"),
            "{:?}",
            decision.moves
        );
        assert_eq!(decision.finished, Some(RunState::Failed));
    }
}
