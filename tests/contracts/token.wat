;; A token contract for the node. Balances live in contract storage under "bal:" and an
;; account's 8-byte id: the first 8 bytes of its owner's ed25519 public key, read as a
;; little-endian i64 (what `me` returns to its caller). A transfer moves the caller's own
;; tokens; only the admin, the key the chain's genesis stores under "admin", mints; amounts
;; must be positive and no balance may overflow. Abort codes: 1 insufficient balance, 2 no
;; caller, 3 not the admin, 4 an amount not positive, 5 a balance would overflow. A
;; transfer debits first, then aborts if the balance went negative: the node must undo the
;; debit.
(module
  (import "verigame" "storage_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "verigame" "storage_write" (func $write (param i32 i32 i32 i32)))
  (import "verigame" "caller" (func $caller (param i32) (result i32)))
  (import "verigame" "abort" (func $abort (param i32)))
  (memory (export "memory") 1)
  ;; A balance's key at 0 (12 bytes), its value at 16, the caller at 32, the admin at 64,
  ;; the admin's storage key at 96.
  (data (i32.const 96) "admin")
  (func $key (param $account i64)
    (i32.store (i32.const 0) (i32.const 0x3a6c6162))
    (i64.store (i32.const 4) (local.get $account)))
  (func $balance (export "balance") (param $account i64) (result i64)
    (call $key (local.get $account))
    (if (i32.eq (call $read (i32.const 0) (i32.const 12) (i32.const 16) (i32.const 8)) (i32.const -1))
      (then (return (i64.const 0))))
    (i64.load (i32.const 16)))
  (func $set (param $account i64) (param $amount i64)
    (call $key (local.get $account))
    (i64.store (i32.const 16) (local.get $amount))
    (call $write (i32.const 0) (i32.const 12) (i32.const 16) (i32.const 8)))
  ;; The caller's account id (its key at 32).
  (func $me (export "me") (result i64)
    (if (i32.ne (call $caller (i32.const 32)) (i32.const 32)) (then (call $abort (i32.const 2))))
    (i64.load (i32.const 32)))
  (func $positive (param $amount i64)
    (if (i64.le_s (local.get $amount) (i64.const 0)) (then (call $abort (i32.const 4)))))
  ;; Adds `amount` (positive) to `account`'s balance.
  (func $credit (param $account i64) (param $amount i64)
    (local $old i64)
    (local.set $old (call $balance (local.get $account)))
    (if (i64.lt_s (i64.add (local.get $old) (local.get $amount)) (local.get $old)) (then (call $abort (i32.const 5))))
    (call $set (local.get $account) (i64.add (local.get $old) (local.get $amount))))
  ;; Whether the caller (at 32) is the admin: its key stored under "admin", copied to 64.
  (func $is_admin (result i32)
    (if (i32.ne (call $read (i32.const 96) (i32.const 5) (i32.const 64) (i32.const 32)) (i32.const 32))
      (then (return (i32.const 0))))
    (i32.and
      (i32.and (i64.eq (i64.load (i32.const 32)) (i64.load (i32.const 64)))
               (i64.eq (i64.load (i32.const 40)) (i64.load (i32.const 72))))
      (i32.and (i64.eq (i64.load (i32.const 48)) (i64.load (i32.const 80)))
               (i64.eq (i64.load (i32.const 56)) (i64.load (i32.const 88))))))
  ;; The admin credits `account` with `amount`; the new balance.
  (func (export "mint") (param $account i64) (param $amount i64) (result i64)
    (drop (call $me))
    (if (i32.eqz (call $is_admin)) (then (call $abort (i32.const 3))))
    (call $positive (local.get $amount))
    (call $credit (local.get $account) (local.get $amount))
    (call $balance (local.get $account)))
  ;; Moves `amount` of the caller's tokens to `to`; the caller's balance left.
  (func (export "transfer") (param $to i64) (param $amount i64) (result i64)
    (local $from i64) (local $left i64)
    (local.set $from (call $me))
    (call $positive (local.get $amount))
    (local.set $left (i64.sub (call $balance (local.get $from)) (local.get $amount)))
    (call $set (local.get $from) (local.get $left))
    (if (i64.lt_s (local.get $left) (i64.const 0)) (then (call $abort (i32.const 1))))
    (call $credit (local.get $to) (local.get $amount))
    (call $balance (local.get $from))))
