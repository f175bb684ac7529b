//! Runs: the decisions of each step ([`decide`]), the run's life in the database ([`runs`]),
//! workers that claim and run task instances ([`worker`]), and the sweeper that takes back
//! lost leases and fires schedules ([`sweeper`]).

pub mod builtin;
pub mod claims;
pub mod command;
pub mod decide;
pub mod inputs;
pub mod locations;
pub mod logs;
pub mod runs;
pub mod schedule;
pub mod states;
pub mod sweeper;
pub mod worker;
