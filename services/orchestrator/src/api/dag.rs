//! Checks that a pipeline's tasks form a DAG: unique ids, known dependencies, no cycles.

use std::collections::{HashMap, VecDeque};

use lathe_common::validate;
use lathe_common::{Error, Result};
use lathe_contract::orchestrator::v1::TaskSpec;

/// Returns the task ids in an order that respects every dependency.
pub fn topological_order(tasks: &[TaskSpec]) -> Result<Vec<&str>> {
    if tasks.is_empty() {
        return Err(Error::invalid("tasks: a pipeline needs at least one task"));
    }
    let mut index = HashMap::new();
    for (i, task) in tasks.iter().enumerate() {
        validate::identifier(&format!("tasks[{i}].id"), &task.id)?;
        if task.command.is_empty() {
            return Err(Error::invalid(format!(
                "tasks[{i}].command: task '{}' needs a command to run",
                task.id
            )));
        }
        if index.insert(task.id.as_str(), i).is_some() {
            return Err(Error::invalid(format!(
                "tasks[{i}].id: '{}' appears twice",
                task.id
            )));
        }
    }
    let mut indegree = vec![0usize; tasks.len()];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); tasks.len()];
    for (i, task) in tasks.iter().enumerate() {
        for dep in &task.depends_on {
            let &d = index.get(dep.as_str()).ok_or_else(|| {
                Error::invalid(format!(
                    "tasks[{i}].depends_on: task '{}' depends on unknown task '{dep}'",
                    task.id
                ))
            })?;
            if d == i {
                return Err(Error::invalid(format!(
                    "tasks[{i}].depends_on: task '{}' depends on itself",
                    task.id
                )));
            }
            indegree[i] += 1;
            dependents[d].push(i);
        }
    }
    let mut ready: VecDeque<usize> = (0..tasks.len()).filter(|&i| indegree[i] == 0).collect();
    let mut order = Vec::with_capacity(tasks.len());
    while let Some(i) = ready.pop_front() {
        order.push(tasks[i].id.as_str());
        for &next in &dependents[i] {
            indegree[next] -= 1;
            if indegree[next] == 0 {
                ready.push_back(next);
            }
        }
    }
    if order.len() < tasks.len() {
        let mut cyclic: Vec<&str> = (0..tasks.len())
            .filter(|&i| indegree[i] > 0)
            .map(|i| tasks[i].id.as_str())
            .collect();
        cyclic.sort_unstable();
        return Err(Error::invalid(format!(
            "tasks: the dependencies form a cycle through {}",
            cyclic.join(", ")
        )));
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, deps: &[&str]) -> TaskSpec {
        TaskSpec {
            id: id.to_owned(),
            depends_on: deps.iter().map(|d| (*d).to_owned()).collect(),
            command: vec!["true".to_owned()],
            ..TaskSpec::default()
        }
    }

    #[test]
    fn orders_a_diamond() {
        let tasks = [
            task("register", &["evaluate"]),
            task("train", &[]),
            task("evaluate", &["train"]),
        ];
        assert_eq!(
            topological_order(&tasks).unwrap(),
            ["train", "evaluate", "register"]
        );
    }

    #[test]
    fn refuses_cycles_unknown_and_duplicate_tasks() {
        let cycle = [task("a", &["b"]), task("b", &["a"]), task("c", &[])];
        assert!(
            topological_order(&cycle)
                .unwrap_err()
                .message
                .contains("cycle through a, b")
        );
        let unknown = [task("a", &["zzz"])];
        assert!(
            topological_order(&unknown)
                .unwrap_err()
                .message
                .contains("unknown task 'zzz'")
        );
        let dup = [task("a", &[]), task("a", &[])];
        assert!(
            topological_order(&dup)
                .unwrap_err()
                .message
                .contains("appears twice")
        );
        assert!(
            topological_order(&[task("a", &["a"])])
                .unwrap_err()
                .message
                .contains("itself")
        );
        assert!(topological_order(&[]).is_err());
    }
}
