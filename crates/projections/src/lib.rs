//! rectify-projections
