import Synchronization

/// A process-wide memo of the Gaussian expectations that need quadrature, keyed by what
/// determines them exactly: the activation, which expectation, its arguments' bit patterns
/// and the quadrature's settings.
///
/// A batch's covariance repeats the same (q_aa, q_bb, c) many times — with Gram inputs every
/// off-diagonal entry is the same triple, so a layer of B inputs has 2 distinct entries among
/// its B(B+1)/2 — and grid points that share (φ, σ_w, σ_b, inputs) share whole layer
/// sequences. Each distinct expectation is integrated once. The quadrature is deterministic,
/// so a cached value is bit-identical to a recomputed one: results do not depend on which
/// thread or rank computed what first.
///
/// Bounded: past `capacity` entries the table is emptied and starts again.
final class ExpectationCache: Sendable {
    /// Which expectation a key names.
    enum Kind: UInt8, Sendable {
        /// `E φ(u1) φ(u2)`.
        case secondMoment
        /// `E φ′(u1) φ′(u2)`.
        case derivativeMoment
        /// `E φ(√q z)`.
        case mean
        /// `E [φ′(√q z)² + φ φ″(√q z)]`.
        case lengthSlope
    }

    struct Key: Hashable, Sendable {
        let activation: Activation
        let kind: Kind
        let a: UInt64, b: UInt64, c: UInt64
        let tolerance: UInt64
        let maxPanels: Int

        init(_ activation: Activation, _ kind: Kind, _ a: Double, _ b: Double = 0, _ c: Double = 0,
             quadrature: GaussianExpectation) {
            self.activation = activation
            self.kind = kind
            self.a = a.bitPattern
            self.b = b.bitPattern
            self.c = c.bitPattern
            tolerance = quadrature.relativeTolerance.bitPattern
            maxPanels = quadrature.maxPanels
        }
    }

    static let shared = ExpectationCache(capacity: 1 << 20)

    let capacity: Int
    private let table = Mutex<[Key: Double]>([:])

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// The cached value of `key`, computing and storing it on a miss (outside the lock).
    func value(_ key: Key, _ compute: () -> Double) -> Double {
        if let hit = table.withLock({ $0[key] }) { return hit }
        let value = compute()
        table.withLock { table in
            if table.count >= capacity { table.removeAll(keepingCapacity: true) }
            table[key] = value
        }
        return value
    }
}
