;; WebAssembly SIMD kernels for the DICOM hot path. kernels.ts loads them and states why their
;; results equal the JavaScript reference bit for bit; fastpath.ts uses them. `npm run
;; build:wasm` assembles this file into kernels.wasm.ts (test/simd.test.ts checks they agree).
;;
;; Per pixel, from a raw little-endian 16-bit sample word, both kernels compute what
;; toStored → storedToHu → windowStack compute in JavaScript:
;;
;;   stored  P = (word >>> shift) & mask, sign-extended when PixelRepresentation = 1
;;           (PS3.5 8.1.1: BitsStored bits ending at HighBit)
;;   RSNA    v = P + 1000; if v ≥ 4096 then v −= 4096            (only when the fix applies)
;;   HU      fround(v × slope + intercept)                        (PS3.3 C.11.1.1.2)
;;   window  fround((clip(HU, lo, hi) − lo) / width)              for each of 3 windows
;;
;; window3 writes the windows as float32, HWC. window3HalveU8 then takes the mean of each 2 × 2
;; block as fround(((a + b) + (d + e)) × 0.25) in float64 (a, b the top row) and the byte
;; round(v × 255), as resize's halve and toUint8 do.
;;
;; Parameter block (512 bytes at $p, written by kernels.ts):
;;     0  i32    shift = HighBit + 1 − BitsStored
;;     4  i32    HU mode: 0 exact i32 arithmetic, 1 float64 arithmetic
;;    16  i16x8  mask = 2^BitsStored − 1
;;    32  i16x8  xor, 48 i16x8 sub: (P ^ xor) − sub sign-extends P, or biases unsigned 16-bit
;;               P by −32768, so that it fits an i16 lane
;;    64  i16x8  RSNA offset (1000 or 0), 80 i16x8 threshold (4095, or 32767 for none),
;;    96  i16x8  RSNA wrap (4096 or 0)
;;   112  i32x4  integer slope, 128 i32x4 integer intercept (the bias folded in)
;;   144  i32x4  bias added back before float64 arithmetic (32768 or 0)
;;   160  f64x2  slope, 176 f64x2 intercept
;;   192  f32x4  × 9: lo, hi, width of the three output phases of window3 (lane j of phase q
;;               holds window (4q + j) mod 3)
;;   336  f32x4  × 9: lo, hi, width splats of windows 0, 1, 2 (window3HalveU8)
;;   480  f64x2  63.75 (= 255 × 0.25), 496 f64x2 2^52
(module
  (memory (export "memory") 1)

  ;; $toHu(p, src, dst, n, split): n words at src (n a multiple of 8) → n float32 HU at dst. In
  ;; pixel order, or with split ≠ 0, each group of 8 pixels as its 4 even then its 4 odd ones.
  (func $toHu (param $p i32) (param $src i32) (param $dst i32) (param $n i32) (param $split i32)
    (local $end i32) (local $shift i32)
    (local $mask v128) (local $xa v128) (local $xs v128)
    (local $roff v128) (local $rthr v128) (local $rwrap v128)
    (local $islope v128) (local $iicpt v128) (local $bias v128) (local $fslope v128) (local $ficpt v128)
    (local $s v128) (local $a v128) (local $b v128)
    (local.set $shift (i32.load (local.get $p)))
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
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 1))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        ;; Stored values of 8 pixels in i16 lanes, then the RSNA wrap: v −= (v > thr) & wrap.
        (local.set $s
          (v128.and
            (i16x8.shr_u (v128.load (local.get $src)) (local.get $shift))
            (local.get $mask)))
        (local.set $s (i16x8.sub (v128.xor (local.get $s) (local.get $xa)) (local.get $xs)))
        (local.set $s (i16x8.add (local.get $s) (local.get $roff)))
        (local.set $s
          (i16x8.sub
            (local.get $s)
            (v128.and (i16x8.gt_s (local.get $s) (local.get $rthr)) (local.get $rwrap))))
        ;; To i32: pixels 0–3 in $a and 4–7 in $b, or the even ones in $a and the odd in $b.
        (if (local.get $split)
          (then
            (local.set $a (i32x4.shr_s (i32x4.shl (local.get $s) (i32.const 16)) (i32.const 16)))
            (local.set $b (i32x4.shr_s (local.get $s) (i32.const 16))))
          (else
            (local.set $a (i32x4.extend_low_i16x8_s (local.get $s)))
            (local.set $b (i32x4.extend_high_i16x8_s (local.get $s)))))
        (if (i32.load offset=4 (local.get $p))
          (then
            ;; fround((v + bias) × slope + intercept): storedToHu's float64 operations.
            (local.set $a (i32x4.add (local.get $a) (local.get $bias)))
            (local.set $b (i32x4.add (local.get $b) (local.get $bias)))
            (v128.store (local.get $dst)
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
                (f32x4.demote_f64x2_zero
                  (f64x2.add
                    (f64x2.mul (f64x2.convert_low_i32x4_s (local.get $a)) (local.get $fslope))
                    (local.get $ficpt)))
                (f32x4.demote_f64x2_zero
                  (f64x2.add
                    (f64x2.mul
                      (f64x2.convert_low_i32x4_s
                        (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15
                          (local.get $a) (local.get $a)))
                      (local.get $fslope))
                    (local.get $ficpt)))))
            (v128.store offset=16 (local.get $dst)
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
                (f32x4.demote_f64x2_zero
                  (f64x2.add
                    (f64x2.mul (f64x2.convert_low_i32x4_s (local.get $b)) (local.get $fslope))
                    (local.get $ficpt)))
                (f32x4.demote_f64x2_zero
                  (f64x2.add
                    (f64x2.mul
                      (f64x2.convert_low_i32x4_s
                        (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15
                          (local.get $b) (local.get $b)))
                      (local.get $fslope))
                    (local.get $ficpt))))))
          (else
            ;; The exact integer v × slope + intercept, rounded once to float32.
            (v128.store (local.get $dst)
              (f32x4.convert_i32x4_s
                (i32x4.add (i32x4.mul (local.get $a) (local.get $islope)) (local.get $iicpt))))
            (v128.store offset=16 (local.get $dst)
              (f32x4.convert_i32x4_s
                (i32x4.add (i32x4.mul (local.get $b) (local.get $islope)) (local.get $iicpt))))))
        (local.set $src (i32.add (local.get $src) (i32.const 16)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
        (br $next))))

  ;; window3(p, src, dst, n, tmp): n words at src (n a multiple of 8) → n × 3 float32 at dst,
  ;; HWC. Works in chunks of 1024 pixels, whose HU go to tmp (4096 bytes).
  (func (export "window3")
    (param $p i32) (param $src i32) (param $dst i32) (param $n i32) (param $tmp i32)
    (local $m i32) (local $t i32) (local $end i32)
    (local $lo0 v128) (local $hi0 v128) (local $w0 v128)
    (local $lo1 v128) (local $hi1 v128) (local $w1 v128)
    (local $lo2 v128) (local $hi2 v128) (local $w2 v128)
    (local $h v128) (local $x v128)
    (local.set $lo0 (v128.load offset=192 (local.get $p)))
    (local.set $hi0 (v128.load offset=208 (local.get $p)))
    (local.set $w0 (v128.load offset=224 (local.get $p)))
    (local.set $lo1 (v128.load offset=240 (local.get $p)))
    (local.set $hi1 (v128.load offset=256 (local.get $p)))
    (local.set $w1 (v128.load offset=272 (local.get $p)))
    (local.set $lo2 (v128.load offset=288 (local.get $p)))
    (local.set $hi2 (v128.load offset=304 (local.get $p)))
    (local.set $w2 (v128.load offset=320 (local.get $p)))
    (block $done
      (loop $chunk
        (br_if $done (i32.le_s (local.get $n) (i32.const 0)))
        (local.set $m
          (select (i32.const 1024) (local.get $n) (i32.gt_s (local.get $n) (i32.const 1024))))
        (call $toHu (local.get $p) (local.get $src) (local.get $tmp) (local.get $m) (i32.const 0))
        (local.set $t (local.get $tmp))
        (local.set $end (i32.add (local.get $tmp) (i32.shl (local.get $m) (i32.const 2))))
        (loop $pixels
          ;; HU of 4 pixels as [x0 x0 x0 x1] [x1 x1 x2 x2] [x2 x3 x3 x3], against the phase
          ;; vectors of lo, hi and width: 12 outputs in HWC order.
          (local.set $h (v128.load (local.get $t)))
          (local.set $x (i8x16.shuffle 0 1 2 3 0 1 2 3 0 1 2 3 4 5 6 7 (local.get $h) (local.get $h)))
          (v128.store (local.get $dst)
            (f32x4.div
              (f32x4.sub
                (f32x4.pmin (f32x4.pmax (local.get $x) (local.get $lo0)) (local.get $hi0))
                (local.get $lo0))
              (local.get $w0)))
          (local.set $x (i8x16.shuffle 4 5 6 7 4 5 6 7 8 9 10 11 8 9 10 11 (local.get $h) (local.get $h)))
          (v128.store offset=16 (local.get $dst)
            (f32x4.div
              (f32x4.sub
                (f32x4.pmin (f32x4.pmax (local.get $x) (local.get $lo1)) (local.get $hi1))
                (local.get $lo1))
              (local.get $w1)))
          (local.set $x
            (i8x16.shuffle 8 9 10 11 12 13 14 15 12 13 14 15 12 13 14 15 (local.get $h) (local.get $h)))
          (v128.store offset=32 (local.get $dst)
            (f32x4.div
              (f32x4.sub
                (f32x4.pmin (f32x4.pmax (local.get $x) (local.get $lo2)) (local.get $hi2))
                (local.get $lo2))
              (local.get $w2)))
          (local.set $dst (i32.add (local.get $dst) (i32.const 48)))
          (local.set $t (i32.add (local.get $t) (i32.const 16)))
          (br_if $pixels (i32.lt_u (local.get $t) (local.get $end))))
        (local.set $src (i32.add (local.get $src) (i32.shl (local.get $m) (i32.const 1))))
        (local.set $n (i32.sub (local.get $n) (local.get $m)))
        (br $chunk))))

  ;; window3HalveU8(p, src, dst, rows, cols, tmp): rows × cols words at src (rows even, cols a
  ;; multiple of 8) → (rows/2) × (cols/2) × 3 bytes at dst, HWC. Writes 4 bytes past the end.
  ;; Per pair of rows: the HU of both rows (split into even and odd columns) go to tmp; then for
  ;; each window, the bytes of every 4 output pixels go to tmp as i32 lanes; then those are
  ;; interleaved into dst. tmp needs 14 × cols bytes.
  (func (export "window3HalveU8")
    (param $p i32) (param $src i32) (param $dst i32) (param $rows i32) (param $cols i32)
    (param $tmp i32)
    (local $y i32) (local $top i32) (local $bottom i32) (local $q i32) (local $qEnd i32)
    (local $a i32) (local $b i32) (local $u i32) (local $k i32)
    (local $lo v128) (local $hi v128) (local $wd v128) (local $scale v128) (local $magic v128)
    (local $e0 v128) (local $o0 v128) (local $e1 v128) (local $o1 v128)
    (local $tl v128) (local $th v128) (local $s v128)
    (local.set $top (local.get $tmp))
    (local.set $bottom (i32.add (local.get $top) (i32.shl (local.get $cols) (i32.const 2))))
    (local.set $q (i32.add (local.get $bottom) (i32.shl (local.get $cols) (i32.const 2))))
    (local.set $qEnd (i32.add (local.get $q) (i32.mul (local.get $cols) (i32.const 6))))
    (local.set $scale (v128.load offset=480 (local.get $p)))
    (local.set $magic (v128.load offset=496 (local.get $p)))
    (local.set $y (i32.const 0))
    (block $done
      (loop $rowPair
        (br_if $done (i32.ge_u (local.get $y) (local.get $rows)))
        (call $toHu (local.get $p) (local.get $src) (local.get $top) (local.get $cols) (i32.const 1))
        (call $toHu
          (local.get $p)
          (i32.add (local.get $src) (i32.shl (local.get $cols) (i32.const 1)))
          (local.get $bottom)
          (local.get $cols)
          (i32.const 1))
        ;; One window at a time ($k: its offset in the splats at 336).
        (local.set $k (i32.const 0))
        (loop $window
          (local.set $lo (v128.load offset=336 (i32.add (local.get $p) (local.get $k))))
          (local.set $hi (v128.load offset=352 (i32.add (local.get $p) (local.get $k))))
          (local.set $wd (v128.load offset=368 (i32.add (local.get $p) (local.get $k))))
          (local.set $a (local.get $top))
          (local.set $b (local.get $bottom))
          (local.set $u (i32.add (local.get $q) (i32.div_u (local.get $k) (i32.const 3))))
          (loop $blocks
            ;; 8 columns of both rows: even (e) and odd (o) columns of the top (0) and bottom
            ;; (1) rows, windowed.
            (local.set $e0
              (f32x4.div
                (f32x4.sub
                  (f32x4.pmin (f32x4.pmax (v128.load (local.get $a)) (local.get $lo)) (local.get $hi))
                  (local.get $lo))
                (local.get $wd)))
            (local.set $o0
              (f32x4.div
                (f32x4.sub
                  (f32x4.pmin
                    (f32x4.pmax (v128.load offset=16 (local.get $a)) (local.get $lo))
                    (local.get $hi))
                  (local.get $lo))
                (local.get $wd)))
            (local.set $e1
              (f32x4.div
                (f32x4.sub
                  (f32x4.pmin (f32x4.pmax (v128.load (local.get $b)) (local.get $lo)) (local.get $hi))
                  (local.get $lo))
                (local.get $wd)))
            (local.set $o1
              (f32x4.div
                (f32x4.sub
                  (f32x4.pmin
                    (f32x4.pmax (v128.load offset=16 (local.get $b)) (local.get $lo))
                    (local.get $hi))
                  (local.get $lo))
                (local.get $wd)))
            ;; (a + b) + (d + e) in float64: output pixels 0 and 1 in $tl, 2 and 3 in $th.
            (local.set $tl
              (f64x2.add
                (f64x2.add
                  (f64x2.promote_low_f32x4 (local.get $e0))
                  (f64x2.promote_low_f32x4 (local.get $o0)))
                (f64x2.add
                  (f64x2.promote_low_f32x4 (local.get $e1))
                  (f64x2.promote_low_f32x4 (local.get $o1)))))
            (local.set $th
              (f64x2.add
                (f64x2.add
                  (f64x2.promote_low_f32x4
                    (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15
                      (local.get $e0) (local.get $e0)))
                  (f64x2.promote_low_f32x4
                    (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15
                      (local.get $o0) (local.get $o0))))
                (f64x2.add
                  (f64x2.promote_low_f32x4
                    (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15
                      (local.get $e1) (local.get $e1)))
                  (f64x2.promote_low_f32x4
                    (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15
                      (local.get $o1) (local.get $o1))))))
            ;; byte = round(fround(sum) × 63.75): adding 2^52 rounds to an integer and leaves
            ;; it in the low 32 bits of the lane (kernels.ts: why this is round(v × 255)).
            (local.set $tl
              (f64x2.add
                (f64x2.mul
                  (f64x2.promote_low_f32x4 (f32x4.demote_f64x2_zero (local.get $tl)))
                  (local.get $scale))
                (local.get $magic)))
            (local.set $th
              (f64x2.add
                (f64x2.mul
                  (f64x2.promote_low_f32x4 (f32x4.demote_f64x2_zero (local.get $th)))
                  (local.get $scale))
                (local.get $magic)))
            (v128.store (local.get $u)
              (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $tl) (local.get $th)))
            (local.set $a (i32.add (local.get $a) (i32.const 32)))
            (local.set $b (i32.add (local.get $b) (i32.const 32)))
            (local.set $u (i32.add (local.get $u) (i32.const 48)))
            (br_if $blocks (i32.lt_u (local.get $a) (local.get $bottom))))
          (local.set $k (i32.add (local.get $k) (i32.const 48)))
          (br_if $window (i32.lt_u (local.get $k) (i32.const 144))))
        ;; The i32 bytes [w0 × 4][w1 × 4][w2 × 4] of each 4 output pixels → 12 bytes, HWC (the
        ;; narrows saturate: a mean ≥ 1 gives ≥ 255, so 255).
        (local.set $u (local.get $q))
        (loop $pack
          (local.set $s
            (i8x16.narrow_i16x8_u
              (i16x8.narrow_i32x4_s (v128.load (local.get $u)) (v128.load offset=16 (local.get $u)))
              (i16x8.narrow_i32x4_s
                (v128.load offset=32 (local.get $u))
                (v128.load offset=32 (local.get $u)))))
          (v128.store (local.get $dst)
            (i8x16.shuffle 0 4 8 1 5 9 2 6 10 3 7 11 12 13 14 15 (local.get $s) (local.get $s)))
          (local.set $dst (i32.add (local.get $dst) (i32.const 12)))
          (local.set $u (i32.add (local.get $u) (i32.const 48)))
          (br_if $pack (i32.lt_u (local.get $u) (local.get $qEnd))))
        (local.set $src (i32.add (local.get $src) (i32.shl (local.get $cols) (i32.const 2))))
        (local.set $y (i32.add (local.get $y) (i32.const 2)))
        (br $rowPair))))
)
