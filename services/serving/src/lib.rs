//! Lathe's serving service (issue 19). For now it holds only the model runtime: an ONNX model
//! loaded from bytes, checked at load, and run in-process on rows of `f32` features.
//!
//! See [`runtime`] for which models can be served and why.

pub mod runtime;
