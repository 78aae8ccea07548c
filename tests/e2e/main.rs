//! End-to-end tests: a real `rectify serve` process on port 0 and real tonic
//! clients. Each test gets its own temporary data directory.
//!
//! One test binary: `support` is the harness the modules share; `lifecycle`
//! follows complaints through the workflow, `queries` holds the read-model
//! tests, `hostile` the table of refused requests, `open311` the GeoReport v2
//! endpoints over HTTP on the same port, `dashboard` the dashboard's pages
//! over HTTP and `browser` the same pages in headless Chromium;
//! `transparency` checks receipts and proofs with the crate, `receipts`
//! with the `rectify receipt` and `rectify checkpoints` commands.

mod browser;
mod chrome;
mod dashboard;
mod hostile;
mod ledgers;
mod lifecycle;
mod matrix;
mod mechanisms;
mod open311;
mod operations;
mod portals;
mod postgres;
mod privacy;
mod queries;
mod receipts;
mod support;
mod transparency;
mod upgrade;
