;; A contract for the large-memory figures (cluster/benches/memory.rs, `bench --dispute`): a
;; call that does nothing, a grow, a call writing one word in every 512-byte chunk of a
;; range, and one call doing both for a memory of N MiB.
(module
  (memory 1 65536)
  (func (export "noop"))
  (func (export "grow") (param $pages i32) (result i32)
    (memory.grow (local.get $pages)))
  ;; Writes `value` at every 512th byte from `from` up to (not including) `to`, and not
  ;; past the last chunk of a 4 GiB memory (the next address would wrap to 0).
  (func $touch (export "touch") (param $from i32) (param $to i32) (param $value i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $from) (local.get $to)))
        (i32.store (local.get $from) (local.get $value))
        (br_if $done (i32.ge_u (local.get $from) (i32.const -512)))
        (local.set $from (i32.add (local.get $from) (i32.const 512)))
        (br $next))))
  ;; Grows the memory to `mib` MiB (up to 4096) and writes a word in every 512-byte chunk
  ;; of it.
  (func (export "grow_and_touch") (param $mib i32) (result i32)
    (drop (memory.grow (i32.sub (i32.mul (local.get $mib) (i32.const 16)) (memory.size))))
    (call $touch (i32.const 0) (i32.sub (i32.mul (local.get $mib) (i32.const 1048576)) (i32.const 1)) (i32.const 1))
    (memory.size)))
