/// Expectations under Gaussian measures, as needed by the mean-field maps:
/// the 1-D `E f(m + s z)` and the 2-D `E f(u1) g(u2)` with
/// `u1 = √q_aa z1`, `u2 = √q_bb (c z1 + √(1−c²) z2)`, z1, z2 iid N(0, 1)
/// (Poole et al. 2016).
///
/// Method: the integral over z is cut to [−L, L] with L = 10 (the Gaussian mass outside is
/// 1.5·10⁻²³), split at the images in z of f's `Breakpoints` (an x-point k maps to
/// (k − m)/s: kinks always, bends when s > 1, i.e. when f's unit-scale structure is narrower
/// than the Gaussian), and integrated by adaptive Gauss–Kronrod (`AdaptiveGaussKronrod`) to a
/// relative tolerance on ∫|f| Dz. A large scale (q = 10⁴: f's structure is a layer of width
/// ~10⁻² in z) and a small one (q = 10⁻⁶: f is nearly polynomial over the whole range) are both
/// resolved, unlike a fixed Gauss–Hermite rule.
///
/// The 2-D expectation integrates over z1 by that rule and, at each z1, the inner
/// expectation over z2, which is the 1-D one with location `√q_bb c z1` and scale
/// `√q_bb √(1−c²)`, so g's kinks land where they belong for every z1. The outer panels are
/// also split where g's kinks sit on the line z2 = 0 (z1 = k/(c√q_bb)), and around them on
/// the scale of the inner blur, which is where the inner expectation varies fast when c is
/// near ±1 (and at g's bends when c√q_bb > 1). At |c| = 1 it reduces exactly
/// to the 1-D integral of f(√q_aa z) g(±√q_bb z).
public struct GaussianExpectation: Sendable {
    /// Half-width, in standard deviations, of the range integrated.
    public static let halfWidth = 10.0
    /// Breakpoints in z that every integral starts from (the Gaussian's own scale).
    private static let gaussianPoints: [Double] = [-10, -5, -2, 0, 2, 5, 10]

    /// Relative tolerance, with respect to ∫|integrand|, of each adaptive integral.
    public var relativeTolerance: Double
    /// Most panels one adaptive integral may use.
    public var maxPanels: Int

    public init(relativeTolerance: Double = 1e-12, maxPanels: Int = 400) {
        precondition(relativeTolerance > 0, "relativeTolerance must be positive")
        self.relativeTolerance = relativeTolerance
        self.maxPanels = maxPanels
    }

    private var adaptive: AdaptiveGaussKronrod {
        AdaptiveGaussKronrod(relativeTolerance: relativeTolerance, maxPanels: maxPanels)
    }

    /// A function evaluated on a buffer at a time: `output[i] = f(input[i])`
    /// (`Activation.apply`, `Activation.applyDerivative`). The input holds a multiple of 8
    /// values, so SIMD paths see no remainder.
    public typealias BatchFunction = (_ input: UnsafeBufferPointer<Double>, _ output: UnsafeMutableBufferPointer<Double>) -> Void

    /// `E f(m + s z) = ∫Dz f(m + s z)`, `Dz = e^{−z²/2} dz/√(2π)`.
    ///
    /// A zero scale is evaluated as the limit s → 0⁺ (s is floored at the least normal
    /// double): f(m), or ½(f(m⁺) + f(m⁻)) when m is a kink (e.g. E relu′(√q z)² → ½ as q → 0).
    public func expectation(location m: Double = 0, scale s: Double, breakpoints: Breakpoints,
                            _ f: (Double) -> Double) -> QuadratureEstimate {
        expectation(location: m, scale: s, breakpoints: breakpoints) { x, fx in
            for i in x.indices { fx[i] = f(x[i]) }
        }
    }

    /// `E f(m + s z)` with f evaluated a quadrature panel at a time.
    public func expectation(location m: Double = 0, scale s: Double, breakpoints: Breakpoints,
                            batch f: BatchFunction) -> QuadratureEstimate {
        precondition(s >= 0, "scale must be non-negative")
        let s = Swift.max(s, Double.leastNormalMagnitude)
        let points = Self.panelPoints(breakpoints.images(location: m, scale: s))
        return adaptive.integrate(over: points) { z, values in
            Self.evaluate(f, at: z, location: m, scale: s) { fx in
                for i in z.indices { values[i] = fx[i] * standardNormalPDF(z[i]) }
            }
        }
    }

    /// `E f(u1) g(u2)` with `u1 = √q_aa z1`, `u2 = √q_bb (c z1 + √(1−c²) z2)`, i.e. (u1, u2)
    /// centred Gaussian with variances q_aa, q_bb and covariance c √(q_aa q_bb).
    ///
    /// The error estimate is the outer integral's; the inner ones are computed to the same
    /// relative tolerance. Zero variances are evaluated as the limit q → 0⁺.
    public func expectation(qaa: Double, qbb: Double, correlation c: Double,
                            _ f: (Double) -> Double, breakpointsF: Breakpoints,
                            _ g: (Double) -> Double, breakpointsG: Breakpoints) -> QuadratureEstimate {
        expectation(qaa: qaa, qbb: qbb, correlation: c,
                    batch: { x, fx in for i in x.indices { fx[i] = f(x[i]) } }, breakpointsF: breakpointsF,
                    batch: { x, gx in for i in x.indices { gx[i] = g(x[i]) } }, breakpointsG: breakpointsG)
    }

    /// `E f(u1) g(u2)` with f and g evaluated a quadrature panel at a time.
    public func expectation(qaa: Double, qbb: Double, correlation c: Double,
                            batch f: BatchFunction, breakpointsF: Breakpoints,
                            batch g: BatchFunction, breakpointsG: Breakpoints) -> QuadratureEstimate {
        precondition(qaa >= 0 && qbb >= 0, "variances must be non-negative")
        precondition(Swift.abs(c) <= 1, "correlation must lie in [-1, 1]")
        // Zero variances are evaluated as the limit q → 0⁺, as in the 1-D case.
        let sa = Swift.max(qaa.squareRoot(), Double.leastNormalMagnitude)
        let sb = Swift.max(qbb.squareRoot(), Double.leastNormalMagnitude)
        if Swift.abs(c) == 1 {
            let gb = c * sb
            let points = Self.panelPoints(breakpointsF.images(location: 0, scale: sa)
                                          + breakpointsG.images(location: 0, scale: gb))
            return adaptive.integrate(over: points) { z, values in
                Self.evaluate(f, at: z, location: 0, scale: sa) { fx in
                    Self.evaluate(g, at: z, location: 0, scale: gb) { gx in
                        for i in z.indices { values[i] = fx[i] * gx[i] * standardNormalPDF(z[i]) }
                    }
                }
            }
        }
        let slope = c * sb                                  // u2's mean is slope · z1
        let spread = sb * ((1 - c) * (1 + c)).squareRoot()  // and its standard deviation
        var outerBreaks = breakpointsF.images(location: 0, scale: sa)
        if slope != 0 {
            outerBreaks += breakpointsG.images(location: 0, scale: slope)
            // At z1 = k/slope the inner expectation is g's kink blurred over a width
            // spread/|slope| in z1; when that is narrow (|c| > 1/√2) a ladder of points at 1, 4
            // and 16 widths resolves it from the start (16 widths out the blur is below e⁻¹²⁸).
            // A bend has its own width 1/|slope|, covered by the bends' ladder, unless the blur
            // is wider (spread > 1).
            let width = spread / Swift.abs(slope)
            if width < 1 {
                let blurred = spread > 1 ? breakpointsG.kinks + breakpointsG.bends : breakpointsG.kinks
                for k in blurred {
                    for step in [1.0, 4, 16] { outerBreaks += [k / slope - step * width, k / slope + step * width] }
                }
            }
        }
        let points = Self.panelPoints(outerBreaks)
        return adaptive.integrate(over: points) { z1, values in
            Self.evaluate(f, at: z1, location: 0, scale: sa) { fx in
                for i in z1.indices {
                    if fx[i] == 0 { values[i] = 0; continue }
                    let inner = expectation(location: slope * z1[i], scale: spread, breakpoints: breakpointsG, batch: g)
                    values[i] = fx[i] * inner.value * standardNormalPDF(z1[i])
                }
            }
        }
    }

    /// Calls `body` with `f(m + s z[i])` for every node z[i] (the buffer padded to a multiple
    /// of 8 with the last node).
    @inline(__always)
    private static func evaluate(_ f: BatchFunction, at z: UnsafeBufferPointer<Double>, location m: Double,
                                 scale s: Double, _ body: (UnsafeMutableBufferPointer<Double>) -> Void) {
        let padded = (z.count + 7) & ~7
        withUnsafeTemporaryAllocation(of: Double.self, capacity: 2 * padded) { buffer in
            let x = UnsafeMutableBufferPointer(rebasing: buffer[0..<padded])
            let fx = UnsafeMutableBufferPointer(rebasing: buffer[padded...])
            for i in 0..<padded { x[i] = m + s * z[Swift.min(i, z.count - 1)] }
            f(UnsafeBufferPointer(x), fx)
            body(fx)
        }
    }

    /// The sorted panel ends: the Gaussian's own points and the given z-points inside
    /// (−L, L), without duplicates.
    static func panelPoints(_ extra: [Double]) -> [Double] {
        var points = gaussianPoints
        for z in extra where z > -halfWidth && z < halfWidth { points.append(z) }
        points.sort()
        var write = 1
        for read in 1..<points.count where points[read] > points[write - 1] {
            points[write] = points[read]
            write += 1
        }
        points.removeLast(points.count - write)
        return points
    }
}

/// Where a function of x needs quadrature panels to start (see `GaussianExpectation`).
public struct Breakpoints: Sendable, Hashable {
    /// Points where f or f′ is not smooth: always panel ends.
    public var kinks: [Double]
    /// Points around which f bends on the unit scale in x (e.g. 0, ±1, ±4, ±16 for tanh):
    /// panel ends when the Gaussian is wider than 1 in x, so that the bend, then narrower
    /// than the Gaussian, is resolved from the first subdivision on.
    public var bends: [Double]

    public init(kinks: [Double] = [], bends: [Double] = []) {
        self.kinks = kinks
        self.bends = bends
    }

    /// The z-images (x − location)/scale of the kinks, and of the bends when scale > 1.
    func images(location m: Double, scale s: Double) -> [Double] {
        var points = kinks.map { ($0 - m) / s }
        if Swift.abs(s) > 1 { points += bends.map { ($0 - m) / s } }
        return points
    }
}
