//! The hub's logic, sans-IO.
