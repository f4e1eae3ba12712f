//! One-step proof checking (see issue "The judge").
