//! Stepper fast path against wasmi on the bundled real programs (`cargo bench`).
//! `verigame bench` prints the same comparison as a table.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use verigame::bench::{programs_dir, Prepared, WORKLOADS};

fn engines(c: &mut Criterion) {
    for &workload in WORKLOADS {
        let prepared = Prepared::new(&programs_dir(), workload).expect("bundled program loads");
        let mut group = c.benchmark_group(format!("{}({})", workload.export, workload.arg));
        group.sample_size(10);
        group.bench_function("stepper", |b| {
            b.iter_batched(
                || prepared.stepper_machine().expect("call starts"),
                |mut machine| machine.run(u64::MAX),
                BatchSize::PerIteration,
            )
        });
        group.bench_function("wasmi", |b| {
            b.iter_batched(
                || prepared.wasmi_instance().expect("instantiates"),
                |mut reference| prepared.call_wasmi(&mut reference).expect("call returns"),
                BatchSize::PerIteration,
            )
        });
        group.finish();
    }
}

criterion_group!(benches, engines);
criterion_main!(benches);
