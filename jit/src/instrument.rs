//! The module rewritten to count the stepper's steps and gas (placeholder: the helper's
//! branch brings the implementation).
