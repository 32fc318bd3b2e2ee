/// How the weight matrices of a network are drawn (DESIGN §2).
public enum WeightLaw: String, Sendable, Hashable, Codable {
    /// `W_ij ~ N(0, σ_w²/N)`: `WᵀW` is Marchenko–Pastur with ratio 1, `S_{WᵀW}(z) = 1/(σ_w²(1+z))`.
    case gaussian
    /// `W = σ_w O`, O Haar on O(N): `WᵀW = σ_w² 1`, `S_{WᵀW}(z) = 1/σ_w²`.
    case orthogonal
}

/// A point mass of a spectral law: `weight` of the eigenvalues sit exactly at `location`.
public struct SpectralAtom: Sendable, Hashable, Codable {
    public var location: Double
    public var weight: Double

    public init(location: Double, weight: Double) {
        self.location = location
        self.weight = weight
    }
}

/// Why a free-probability spectrum could not be computed.
public struct SpectrumError: Error, CustomStringConvertible, Equatable {
    /// What failed, where, and with which values.
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { "free-probability spectrum: \(message)" }
}
