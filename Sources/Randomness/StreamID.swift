/// The name of one random stream of a campaign.
///
/// Every random number the engine draws is a pure function of
/// `(seed, point, sample, layer, purpose)` and of its index inside the stream, so results do
/// not depend on how work is split across threads, tasks or MPI ranks.
///
/// ## Layout
///
/// The five fields map *injectively* (no hashing) onto the Philox4x32-10 key and counter:
///
///     key     = (seed mod 2³², seed >> 32)
///     counter = (block, point, sample, layer << 8 | purpose)
///
/// `block` is the index of a Philox block inside the stream (see ``RandomStream`` for how
/// elements map to blocks). Two different stream IDs therefore never share a
/// (key, counter) pair, and Philox being a keyed bijection, never share a block.
///
/// ## Limits
///
/// - `layer` < 2²⁴ (16 777 216); `purpose` has 8 bits (256 purposes, 5 used).
/// - A stream holds 2³² Philox blocks, that is ``RandomStream/elementLimit`` = 2³³ elements
///   (8 589 934 592, e.g. a 92 681 × 92 681 matrix). Filling beyond that is a precondition
///   failure; a wider layer must be split across purposes or layers.
public struct StreamID: Hashable, Sendable {
    /// What a stream is used for. The raw value is the low byte of the last counter word.
    ///
    /// New cases may be added (up to raw value 255); existing raw values never change,
    /// since they define the streams of past campaigns.
    public enum Purpose: UInt8, Hashable, Sendable, CaseIterable {
        /// Weight matrices.
        case weights = 0
        /// Bias vectors.
        case biases = 1
        /// Network inputs.
        case inputs = 2
        /// The Gaussian matrices from which Haar-orthogonal matrices are built.
        case orthogonal = 3
        /// Anything else per-layer (dropout, noise injection, tie breaking).
        case noise = 4
    }

    /// The largest allowed `layer`, 2²⁴ − 1.
    public static let maxLayer: UInt32 = (1 << 24) - 1

    /// The campaign seed.
    public let seed: UInt64
    /// The grid point (task-independent index of the parameter combination).
    public let point: UInt32
    /// The sample (network) index within the grid point.
    public let sample: UInt32
    /// The layer, `0 ... maxLayer`.
    public let layer: UInt32
    /// What the numbers are for.
    public let purpose: Purpose

    /// - Precondition: `layer <= StreamID.maxLayer` (checked in every build configuration).
    public init(seed: UInt64, point: UInt32, sample: UInt32, layer: UInt32, purpose: Purpose) {
        require(layer <= Self.maxLayer, "StreamID: layer \(layer) exceeds \(Self.maxLayer)")
        self.seed = seed
        self.point = point
        self.sample = sample
        self.layer = layer
        self.purpose = purpose
    }

    /// The Philox key: `(seed mod 2³², seed >> 32)`.
    public var key: SIMD2<UInt32> {
        SIMD2(UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32))
    }

    /// The Philox counter of block `block` of this stream:
    /// `(block, point, sample, layer << 8 | purpose)`.
    public func counter(block: UInt32) -> SIMD4<UInt32> {
        SIMD4(block, point, sample, layerAndPurpose)
    }

    /// The last counter word, `layer << 8 | purpose`.
    var layerAndPurpose: UInt32 { layer << 8 | UInt32(purpose.rawValue) }
}

/// Stops the program with `message` unless `condition` holds. Unlike `precondition` it is
/// also checked in `-Ounchecked` builds: a stream limit exceeded there would silently make
/// two streams share random numbers. Used once per call, never inside the element loops.
@inline(__always)
func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}
