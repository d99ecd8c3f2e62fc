;; WebAssembly SIMD kernels for the DICOM hot path (see kernels.ts, which loads them, and
;; fastpath.ts, which uses them). `npm run build:wasm` assembles this file into kernels.wasm.ts.
;;
;; Both kernels take raw little-endian 16-bit sample words and compute, per pixel and bit for
;; bit, what toStored → storedToHu → windowStack compute in JavaScript:
;;
;;   stored  P = (word >>> shift) & mask, sign-extended when PixelRepresentation = 1
;;           (PS3.5 8.1.1: BitsStored bits ending at HighBit)
;;   RSNA    v = P + 1000; if v ≥ 4096 then v −= 4096           (only when the fix applies)
;;   HU      fround(v × slope + intercept)                       (PS3.3 C.11.1.1.2)
;;   window  fround((clip(HU, lo, hi) − lo) / width)             for each of the 3 windows
;;
;; Every value is computed with the same IEEE operations as the JavaScript, or with operations
;; that give the same result; kernels.ts states the argument, checks the conditions it needs and
;; checks every parameter set on all 65,536 words before use.
;;
;; Parameter block (PARAMS bytes at `$p`, written by kernels.ts):
;;     0  i32    shift (HighBit + 1 − BitsStored)
;;     4  i32    HU mode: 0 = exact i32 arithmetic, 1 = f64 arithmetic
;;    16  i16x8  mask (2^BitsStored − 1)
;;    32  i16x8  xor, 48 i16x8 sub: (P ^ xor) − sub sign-extends or biases P into i16
;;    64  i16x8  RSNA offset (1000 or 0), 80 i16x8 threshold (4095 or 32767),
;;    96  i16x8  RSNA wrap (4096 or 0)
;;   112  i32x4  integer slope, 128 i32x4 integer intercept (bias folded in)
;;   144  i32x4  bias added before f64 arithmetic (32768 for unsigned 16-bit, else 0)
;;   160  f64x2  slope, 176 f64x2 intercept
;;   192  f32x4  × 9: lo, hi, width for the three output phases of `window3` (lane j of phase
;;               q holds window (4q + j) mod 3)
;;   336  f32x4  × 9: lo, hi, width splats of windows 0, 1, 2 for `window3HalveU8`
(module
  (memory (export "memory") 1)

  ;; Words → f32x4 HU of the pixels whose i32 stored values are in `$v` (helper-free: the
  ;; code is written out in both kernels so that no call sits in a hot loop).

  ;; window3(p, src, dst, n): n words at src → n × 3 float32 at dst, HWC interleaved.
  ;; Reads and writes whole groups of 8 pixels: the caller pads src and dst.
  (func (export "window3") (param $p i32) (param $src i32) (param $dst i32) (param $n i32)
    (local $end i32) (local $shift i32) (local $f64 i32)
    (local $mask v128) (local $xa v128) (local $xs v128)
    (local $roff v128) (local $rthr v128) (local $rwrap v128)
    (local $islope v128) (local $iicpt v128) (local $bias v128)
    (local $fslope v128) (local $ficpt v128)
    (local $lo0 v128) (local $hi0 v128) (local $w0 v128)
    (local $lo1 v128) (local $hi1 v128) (local $w1 v128)
    (local $lo2 v128) (local $hi2 v128) (local $w2 v128)
    (local $s v128) (local $ia v128) (local $ib v128) (local $ha v128) (local $hb v128)
    (local $x v128)
    (local.set $shift (i32.load (local.get $p)))
    (local.set $f64 (i32.load offset=4 (local.get $p)))
    (local.set $mask (v128.load offset=16 (local.get $p)))
    (local.set $xa (v128.load offset=32 (local.get $p)))
    (local.set $xs (v128.load offset=48 (local.get $p)))
    (local.set $roff (v128.load offset=64 (local.get $p)))
    (local.set $rthr (v128.load offset=80 (local.get $p)))
    (local.set $rwrap (v128.load offset=96 (local.get $p)))
    (local.set $islope (v128.load offset=112 (local.get $p)))
    (local.set $iicpt (v128.load offset=128 (local.get $p)))
    (local.set $bias (v128.load offset=144 (local.get $p)))
    (local.set $fslope (v128.load offset=160 (local.get $p)))
    (local.set $ficpt (v128.load offset=176 (local.get $p)))
    (local.set $lo0 (v128.load offset=192 (local.get $p)))
    (local.set $hi0 (v128.load offset=208 (local.get $p)))
    (local.set $w0 (v128.load offset=224 (local.get $p)))
    (local.set $lo1 (v128.load offset=240 (local.get $p)))
    (local.set $hi1 (v128.load offset=256 (local.get $p)))
    (local.set $w1 (v128.load offset=272 (local.get $p)))
    (local.set $lo2 (v128.load offset=288 (local.get $p)))
    (local.set $hi2 (v128.load offset=304 (local.get $p)))
    (local.set $w2 (v128.load offset=320 (local.get $p)))
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 1))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        ;; Stored values of 8 pixels as i16 (see the parameter block).
        (local.set $s
          (v128.and
            (i16x8.shr_u (v128.load (local.get $src)) (local.get $shift))
            (local.get $mask)))
        (local.set $s (i16x8.sub (v128.xor (local.get $s) (local.get $xa)) (local.get $xs)))
        ;; RSNA wrap: v = P + off; v −= (v > thr) & wrap.
        (local.set $s (i16x8.add (local.get $s) (local.get $roff)))
        (local.set $s
          (i16x8.sub
            (local.get $s)
            (v128.and (i16x8.gt_s (local.get $s) (local.get $rthr)) (local.get $rwrap))))
        (local.set $ia (i32x4.extend_low_i16x8_s (local.get $s)))
        (local.set $ib (i32x4.extend_high_i16x8_s (local.get $s)))
        (if (local.get $f64)
          (then
            ;; fround(v × slope + intercept) in f64, as storedToHu.
            (local.set $ia (i32x4.add (local.get $ia) (local.get $bias)))
            (local.set $ib (i32x4.add (local.get $ib) (local.get $bias)))
            (local.set $ha
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
                (f32x4.demote_f64x2_zero
                  (f64x2.add
                    (f64x2.mul (f64x2.convert_low_i32x4_s (local.get $ia)) (local.get $fslope))
                    (local.get $ficpt)))
                (f32x4.demote_f64x2_zero
                  (f64x2.add
                    (f64x2.mul
                      (f64x2.convert_low_i32x4_s
                        (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15
                          (local.get $ia) (local.get $ia)))
                      (local.get $fslope))
                    (local.get $ficpt)))))
            (local.set $hb
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
                (f32x4.demote_f64x2_zero
                  (f64x2.add
                    (f64x2.mul (f64x2.convert_low_i32x4_s (local.get $ib)) (local.get $fslope))
                    (local.get $ficpt)))
                (f32x4.demote_f64x2_zero
                  (f64x2.add
                    (f64x2.mul
                      (f64x2.convert_low_i32x4_s
                        (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15
                          (local.get $ib) (local.get $ib)))
                      (local.get $fslope))
                    (local.get $ficpt))))))
          (else
            ;; Exact integer HU, rounded once to f32.
            (local.set $ha
              (f32x4.convert_i32x4_s
                (i32x4.add (i32x4.mul (local.get $ia) (local.get $islope)) (local.get $iicpt))))
            (local.set $hb
              (f32x4.convert_i32x4_s
                (i32x4.add (i32x4.mul (local.get $ib) (local.get $islope)) (local.get $iicpt))))))
        ;; Pixels 0–3: lanes [x0 x0 x0 x1] [x1 x1 x2 x2] [x2 x3 x3 x3] against the phase
        ;; vectors of lo, hi and width give the 12 outputs in HWC order.
        (local.set $x (i8x16.shuffle 0 1 2 3 0 1 2 3 0 1 2 3 4 5 6 7 (local.get $ha) (local.get $ha)))
        (v128.store (local.get $dst)
          (f32x4.div
            (f32x4.sub
              (f32x4.pmin (f32x4.pmax (local.get $x) (local.get $lo0)) (local.get $hi0))
              (local.get $lo0))
            (local.get $w0)))
        (local.set $x (i8x16.shuffle 4 5 6 7 4 5 6 7 8 9 10 11 8 9 10 11 (local.get $ha) (local.get $ha)))
        (v128.store offset=16 (local.get $dst)
          (f32x4.div
            (f32x4.sub
              (f32x4.pmin (f32x4.pmax (local.get $x) (local.get $lo1)) (local.get $hi1))
              (local.get $lo1))
            (local.get $w1)))
        (local.set $x (i8x16.shuffle 8 9 10 11 12 13 14 15 12 13 14 15 12 13 14 15 (local.get $ha) (local.get $ha)))
        (v128.store offset=32 (local.get $dst)
          (f32x4.div
            (f32x4.sub
              (f32x4.pmin (f32x4.pmax (local.get $x) (local.get $lo2)) (local.get $hi2))
              (local.get $lo2))
            (local.get $w2)))
        ;; Pixels 4–7.
        (local.set $x (i8x16.shuffle 0 1 2 3 0 1 2 3 0 1 2 3 4 5 6 7 (local.get $hb) (local.get $hb)))
        (v128.store offset=48 (local.get $dst)
          (f32x4.div
            (f32x4.sub
              (f32x4.pmin (f32x4.pmax (local.get $x) (local.get $lo0)) (local.get $hi0))
              (local.get $lo0))
            (local.get $w0)))
        (local.set $x (i8x16.shuffle 4 5 6 7 4 5 6 7 8 9 10 11 8 9 10 11 (local.get $hb) (local.get $hb)))
        (v128.store offset=64 (local.get $dst)
          (f32x4.div
            (f32x4.sub
              (f32x4.pmin (f32x4.pmax (local.get $x) (local.get $lo1)) (local.get $hi1))
              (local.get $lo1))
            (local.get $w1)))
        (local.set $x (i8x16.shuffle 8 9 10 11 12 13 14 15 12 13 14 15 12 13 14 15 (local.get $hb) (local.get $hb)))
        (v128.store offset=80 (local.get $dst)
          (f32x4.div
            (f32x4.sub
              (f32x4.pmin (f32x4.pmax (local.get $x) (local.get $lo2)) (local.get $hi2))
              (local.get $lo2))
            (local.get $w2)))
        (local.set $src (i32.add (local.get $src) (i32.const 16)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 96)))
        (br $next))))

  ;; window3HalveU8(p, src, dst, rows, cols): rows × cols words at src (rows even, cols a
  ;; multiple of 8) → (rows/2) × (cols/2) × 3 bytes at dst. Each window as in window3; the mean
  ;; of each 2 × 2 block as JavaScript's float64 fround(((a + b) + (d + e)) × 0.25) (a, b the
  ;; top row); the byte as round(v × 255) by adding 2^52 (round half to even, which differs from
  ;; Math.round's half up only at v = 1/2, where both give 128) and taking the low 32 bits, then a
  ;; saturating narrow (v ≥ 1 gives ≥ 255, so 255). Each step takes 8 columns of two rows to 4
  ;; output pixels; it writes 16 bytes for 12, so the caller pads dst by 4.
  (func (export "window3HalveU8")
    (param $p i32) (param $src i32) (param $dst i32) (param $rows i32) (param $cols i32)
    (local $rowBytes i32) (local $y i32) (local $s0 i32) (local $s1 i32) (local $rowEnd i32)
    (local $shift i32) (local $f64 i32)
    (local $mask v128) (local $xa v128) (local $xs v128)
    (local $roff v128) (local $rthr v128) (local $rwrap v128)
    (local $islope v128) (local $iicpt v128) (local $bias v128)
    (local $fslope v128) (local $ficpt v128)
    (local $lo0 v128) (local $hi0 v128) (local $w0 v128)
    (local $lo1 v128) (local $hi1 v128) (local $w1 v128)
    (local $lo2 v128) (local $hi2 v128) (local $w2 v128)
    (local $s v128) (local $he0 v128) (local $ho0 v128) (local $he1 v128) (local $ho1 v128)
    (local $e0 v128) (local $o0 v128) (local $e1 v128) (local $o1 v128)
    (local $tl v128) (local $th v128) (local $q0 v128) (local $q1 v128) (local $q2 v128)
    (local.set $shift (i32.load (local.get $p)))
    (local.set $f64 (i32.load offset=4 (local.get $p)))
    (local.set $mask (v128.load offset=16 (local.get $p)))
    (local.set $xa (v128.load offset=32 (local.get $p)))
    (local.set $xs (v128.load offset=48 (local.get $p)))
    (local.set $roff (v128.load offset=64 (local.get $p)))
    (local.set $rthr (v128.load offset=80 (local.get $p)))
    (local.set $rwrap (v128.load offset=96 (local.get $p)))
    (local.set $islope (v128.load offset=112 (local.get $p)))
    (local.set $iicpt (v128.load offset=128 (local.get $p)))
    (local.set $bias (v128.load offset=144 (local.get $p)))
    (local.set $fslope (v128.load offset=160 (local.get $p)))
    (local.set $ficpt (v128.load offset=176 (local.get $p)))
    (local.set $lo0 (v128.load offset=336 (local.get $p)))
    (local.set $hi0 (v128.load offset=352 (local.get $p)))
    (local.set $w0 (v128.load offset=368 (local.get $p)))
    (local.set $lo1 (v128.load offset=384 (local.get $p)))
    (local.set $hi1 (v128.load offset=400 (local.get $p)))
    (local.set $w1 (v128.load offset=416 (local.get $p)))
    (local.set $lo2 (v128.load offset=432 (local.get $p)))
    (local.set $hi2 (v128.load offset=448 (local.get $p)))
    (local.set $w2 (v128.load offset=464 (local.get $p)))
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 1)))
    (local.set $y (i32.const 0))
    (block $rowsDone
      (loop $nextRow
        (br_if $rowsDone (i32.ge_u (local.get $y) (local.get $rows)))
        (local.set $s0 (i32.add (local.get $src) (i32.mul (local.get $y) (local.get $rowBytes))))
        (local.set $s1 (i32.add (local.get $s0) (local.get $rowBytes)))
        (local.set $rowEnd (local.get $s1))
        (block $colsDone
          (loop $nextCols
            (br_if $colsDone (i32.ge_u (local.get $s0) (local.get $rowEnd)))
            ;; Top row: 8 words → HU of the even columns ($he0) and the odd columns ($ho0).
            (local.set $s
              (v128.and (i16x8.shr_u (v128.load (local.get $s0)) (local.get $shift)) (local.get $mask)))
            (local.set $s (i16x8.sub (v128.xor (local.get $s) (local.get $xa)) (local.get $xs)))
            (local.set $s (i16x8.add (local.get $s) (local.get $roff)))
            (local.set $s
              (i16x8.sub
                (local.get $s)
                (v128.and (i16x8.gt_s (local.get $s) (local.get $rthr)) (local.get $rwrap))))
            (local.set $s
              (i8x16.shuffle 0 1 4 5 8 9 12 13 2 3 6 7 10 11 14 15 (local.get $s) (local.get $s)))
            (local.set $he0 (i32x4.extend_low_i16x8_s (local.get $s)))
            (local.set $ho0 (i32x4.extend_high_i16x8_s (local.get $s)))
            (if (local.get $f64)
              (then
                (local.set $he0 (i32x4.add (local.get $he0) (local.get $bias)))
                (local.set $he0
                  (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
                    (f32x4.demote_f64x2_zero
                      (f64x2.add
                        (f64x2.mul (f64x2.convert_low_i32x4_s (local.get $he0)) (local.get $fslope))
                        (local.get $ficpt)))
                    (f32x4.demote_f64x2_zero
                      (f64x2.add
                        (f64x2.mul
                          (f64x2.convert_low_i32x4_s
                            (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15
                              (local.get $he0) (local.get $he0)))
                          (local.get $fslope))
                        (local.get $ficpt)))))
                (local.set $ho0 (i32x4.add (local.get $ho0) (local.get $bias)))
                (local.set $ho0
                  (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
                    (f32x4.demote_f64x2_zero
                      (f64x2.add
                        (f64x2.mul (f64x2.convert_low_i32x4_s (local.get $ho0)) (local.get $fslope))
                        (local.get $ficpt)))
                    (f32x4.demote_f64x2_zero
                      (f64x2.add
                        (f64x2.mul
                          (f64x2.convert_low_i32x4_s
                            (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15
                              (local.get $ho0) (local.get $ho0)))
                          (local.get $fslope))
                        (local.get $ficpt))))))
              (else
                (local.set $he0
                  (f32x4.convert_i32x4_s
                    (i32x4.add (i32x4.mul (local.get $he0) (local.get $islope)) (local.get $iicpt))))
                (local.set $ho0
                  (f32x4.convert_i32x4_s
                    (i32x4.add (i32x4.mul (local.get $ho0) (local.get $islope)) (local.get $iicpt))))))
            ;; Bottom row: 8 words → HU of the even columns ($he1) and the odd columns ($ho1).
            (local.set $s
              (v128.and (i16x8.shr_u (v128.load (local.get $s1)) (local.get $shift)) (local.get $mask)))
            (local.set $s (i16x8.sub (v128.xor (local.get $s) (local.get $xa)) (local.get $xs)))
            (local.set $s (i16x8.add (local.get $s) (local.get $roff)))
            (local.set $s
              (i16x8.sub
                (local.get $s)
                (v128.and (i16x8.gt_s (local.get $s) (local.get $rthr)) (local.get $rwrap))))
            (local.set $s
              (i8x16.shuffle 0 1 4 5 8 9 12 13 2 3 6 7 10 11 14 15 (local.get $s) (local.get $s)))
            (local.set $he1 (i32x4.extend_low_i16x8_s (local.get $s)))
            (local.set $ho1 (i32x4.extend_high_i16x8_s (local.get $s)))
            (if (local.get $f64)
              (then
                (local.set $he1 (i32x4.add (local.get $he1) (local.get $bias)))
                (local.set $he1
                  (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
                    (f32x4.demote_f64x2_zero
                      (f64x2.add
                        (f64x2.mul (f64x2.convert_low_i32x4_s (local.get $he1)) (local.get $fslope))
                        (local.get $ficpt)))
                    (f32x4.demote_f64x2_zero
                      (f64x2.add
                        (f64x2.mul
                          (f64x2.convert_low_i32x4_s
                            (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15
                              (local.get $he1) (local.get $he1)))
                          (local.get $fslope))
                        (local.get $ficpt)))))
                (local.set $ho1 (i32x4.add (local.get $ho1) (local.get $bias)))
                (local.set $ho1
                  (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
                    (f32x4.demote_f64x2_zero
                      (f64x2.add
                        (f64x2.mul (f64x2.convert_low_i32x4_s (local.get $ho1)) (local.get $fslope))
                        (local.get $ficpt)))
                    (f32x4.demote_f64x2_zero
                      (f64x2.add
                        (f64x2.mul
                          (f64x2.convert_low_i32x4_s
                            (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15
                              (local.get $ho1) (local.get $ho1)))
                          (local.get $fslope))
                        (local.get $ficpt))))))
              (else
                (local.set $he1
                  (f32x4.convert_i32x4_s
                    (i32x4.add (i32x4.mul (local.get $he1) (local.get $islope)) (local.get $iicpt))))
                (local.set $ho1
                  (f32x4.convert_i32x4_s
                    (i32x4.add (i32x4.mul (local.get $ho1) (local.get $islope)) (local.get $iicpt))))))
            ;; Window 0: the four 2 × 2 means and their bytes, as i32 lanes of $q0.
            (local.set $e0
              (f32x4.div
                (f32x4.sub
                  (f32x4.pmin (f32x4.pmax (local.get $he0) (local.get $lo0)) (local.get $hi0))
                  (local.get $lo0))
                (local.get $w0)))
            (local.set $o0
              (f32x4.div
                (f32x4.sub
                  (f32x4.pmin (f32x4.pmax (local.get $ho0) (local.get $lo0)) (local.get $hi0))
                  (local.get $lo0))
                (local.get $w0)))
            (local.set $e1
              (f32x4.div
                (f32x4.sub
                  (f32x4.pmin (f32x4.pmax (local.get $he1) (local.get $lo0)) (local.get $hi0))
                  (local.get $lo0))
                (local.get $w0)))
            (local.set $o1
              (f32x4.div
                (f32x4.sub
                  (f32x4.pmin (f32x4.pmax (local.get $ho1) (local.get $lo0)) (local.get $hi0))
                  (local.get $lo0))
                (local.get $w0)))
            (local.set $tl
              (f64x2.add
                (f64x2.add (f64x2.promote_low_f32x4 (local.get $e0)) (f64x2.promote_low_f32x4 (local.get $o0)))
                (f64x2.add (f64x2.promote_low_f32x4 (local.get $e1)) (f64x2.promote_low_f32x4 (local.get $o1)))))
            (local.set $th
              (f64x2.add
                (f64x2.add
                  (f64x2.promote_low_f32x4
                    (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $e0) (local.get $e0)))
                  (f64x2.promote_low_f32x4
                    (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $o0) (local.get $o0))))
                (f64x2.add
                  (f64x2.promote_low_f32x4
                    (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $e1) (local.get $e1)))
                  (f64x2.promote_low_f32x4
                    (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $o1) (local.get $o1))))))
            (local.set $tl
              (f64x2.add
                (f64x2.mul
                  (f64x2.promote_low_f32x4
                    (f32x4.demote_f64x2_zero (f64x2.mul (local.get $tl) (v128.const f64x2 0.25 0.25))))
                  (v128.const f64x2 255 255))
                (v128.const f64x2 0x1p52 0x1p52)))
            (local.set $th
              (f64x2.add
                (f64x2.mul
                  (f64x2.promote_low_f32x4
                    (f32x4.demote_f64x2_zero (f64x2.mul (local.get $th) (v128.const f64x2 0.25 0.25))))
                  (v128.const f64x2 255 255))
                (v128.const f64x2 0x1p52 0x1p52)))
            (local.set $q0
              (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $tl) (local.get $th)))
            ;; Window 1: the four 2 × 2 means and their bytes, as i32 lanes of $q1.
            (local.set $e0
              (f32x4.div
                (f32x4.sub
                  (f32x4.pmin (f32x4.pmax (local.get $he0) (local.get $lo1)) (local.get $hi1))
                  (local.get $lo1))
                (local.get $w1)))
            (local.set $o0
              (f32x4.div
                (f32x4.sub
                  (f32x4.pmin (f32x4.pmax (local.get $ho0) (local.get $lo1)) (local.get $hi1))
                  (local.get $lo1))
                (local.get $w1)))
            (local.set $e1
              (f32x4.div
                (f32x4.sub
                  (f32x4.pmin (f32x4.pmax (local.get $he1) (local.get $lo1)) (local.get $hi1))
                  (local.get $lo1))
                (local.get $w1)))
            (local.set $o1
              (f32x4.div
                (f32x4.sub
                  (f32x4.pmin (f32x4.pmax (local.get $ho1) (local.get $lo1)) (local.get $hi1))
                  (local.get $lo1))
                (local.get $w1)))
            (local.set $tl
              (f64x2.add
                (f64x2.add (f64x2.promote_low_f32x4 (local.get $e0)) (f64x2.promote_low_f32x4 (local.get $o0)))
                (f64x2.add (f64x2.promote_low_f32x4 (local.get $e1)) (f64x2.promote_low_f32x4 (local.get $o1)))))
            (local.set $th
              (f64x2.add
                (f64x2.add
                  (f64x2.promote_low_f32x4
                    (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $e0) (local.get $e0)))
                  (f64x2.promote_low_f32x4
                    (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $o0) (local.get $o0))))
                (f64x2.add
                  (f64x2.promote_low_f32x4
                    (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $e1) (local.get $e1)))
                  (f64x2.promote_low_f32x4
                    (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $o1) (local.get $o1))))))
            (local.set $tl
              (f64x2.add
                (f64x2.mul
                  (f64x2.promote_low_f32x4
                    (f32x4.demote_f64x2_zero (f64x2.mul (local.get $tl) (v128.const f64x2 0.25 0.25))))
                  (v128.const f64x2 255 255))
                (v128.const f64x2 0x1p52 0x1p52)))
            (local.set $th
              (f64x2.add
                (f64x2.mul
                  (f64x2.promote_low_f32x4
                    (f32x4.demote_f64x2_zero (f64x2.mul (local.get $th) (v128.const f64x2 0.25 0.25))))
                  (v128.const f64x2 255 255))
                (v128.const f64x2 0x1p52 0x1p52)))
            (local.set $q1
              (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $tl) (local.get $th)))
            ;; Window 2: the four 2 × 2 means and their bytes, as i32 lanes of $q2.
            (local.set $e0
              (f32x4.div
                (f32x4.sub
                  (f32x4.pmin (f32x4.pmax (local.get $he0) (local.get $lo2)) (local.get $hi2))
                  (local.get $lo2))
                (local.get $w2)))
            (local.set $o0
              (f32x4.div
                (f32x4.sub
                  (f32x4.pmin (f32x4.pmax (local.get $ho0) (local.get $lo2)) (local.get $hi2))
                  (local.get $lo2))
                (local.get $w2)))
            (local.set $e1
              (f32x4.div
                (f32x4.sub
                  (f32x4.pmin (f32x4.pmax (local.get $he1) (local.get $lo2)) (local.get $hi2))
                  (local.get $lo2))
                (local.get $w2)))
            (local.set $o1
              (f32x4.div
                (f32x4.sub
                  (f32x4.pmin (f32x4.pmax (local.get $ho1) (local.get $lo2)) (local.get $hi2))
                  (local.get $lo2))
                (local.get $w2)))
            (local.set $tl
              (f64x2.add
                (f64x2.add (f64x2.promote_low_f32x4 (local.get $e0)) (f64x2.promote_low_f32x4 (local.get $o0)))
                (f64x2.add (f64x2.promote_low_f32x4 (local.get $e1)) (f64x2.promote_low_f32x4 (local.get $o1)))))
            (local.set $th
              (f64x2.add
                (f64x2.add
                  (f64x2.promote_low_f32x4
                    (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $e0) (local.get $e0)))
                  (f64x2.promote_low_f32x4
                    (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $o0) (local.get $o0))))
                (f64x2.add
                  (f64x2.promote_low_f32x4
                    (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $e1) (local.get $e1)))
                  (f64x2.promote_low_f32x4
                    (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $o1) (local.get $o1))))))
            (local.set $tl
              (f64x2.add
                (f64x2.mul
                  (f64x2.promote_low_f32x4
                    (f32x4.demote_f64x2_zero (f64x2.mul (local.get $tl) (v128.const f64x2 0.25 0.25))))
                  (v128.const f64x2 255 255))
                (v128.const f64x2 0x1p52 0x1p52)))
            (local.set $th
              (f64x2.add
                (f64x2.mul
                  (f64x2.promote_low_f32x4
                    (f32x4.demote_f64x2_zero (f64x2.mul (local.get $th) (v128.const f64x2 0.25 0.25))))
                  (v128.const f64x2 255 255))
                (v128.const f64x2 0x1p52 0x1p52)))
            (local.set $q2
              (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $tl) (local.get $th)))
            ;; Bytes [q0 × 4, q1 × 4, q2 × 4, …] → 4 pixels × 3 windows, HWC.
            (local.set $q0
              (i8x16.narrow_i16x8_u
                (i16x8.narrow_i32x4_s (local.get $q0) (local.get $q1))
                (i16x8.narrow_i32x4_s (local.get $q2) (local.get $q2))))
            (v128.store (local.get $dst)
              (i8x16.shuffle 0 4 8 1 5 9 2 6 10 3 7 11 12 13 14 15 (local.get $q0) (local.get $q0)))
            (local.set $dst (i32.add (local.get $dst) (i32.const 12)))
            (local.set $s0 (i32.add (local.get $s0) (i32.const 16)))
            (local.set $s1 (i32.add (local.get $s1) (i32.const 16)))
            (br $nextCols)))
        (local.set $y (i32.add (local.get $y) (i32.const 2)))
        (br $nextRow))))
)
