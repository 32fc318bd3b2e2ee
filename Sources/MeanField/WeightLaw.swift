/// How the weight matrices of a network are drawn: the campaign's `init`.
public enum WeightLaw: String, Sendable, Hashable, Codable, CaseIterable {
    /// `W_ij ~ N(0, σ_w²/N_{l−1})`, iid. `WᵀW` is Marchenko–Pastur with ratio 1, with
    /// S-transform `S_{WᵀW}(z) = 1/(σ_w²(1+z))` (Pennington, Schoenholz & Ganguli 2017, eq. 12).
    case gaussian
    /// `W = σ_w·√max(1, N_l/N_{l−1})·O`, O a Haar-random matrix with orthonormal columns
    /// (or rows when `N_l < N_{l−1}`); the factor keeps `E|W x|²/N_l = σ_w²|x|²/N_{l−1}` as
    /// for Gaussian weights, so both share the mean-field length map. Square layers get
    /// exactly `σ_w O`, O Haar on O(N): `WᵀW = σ_w² 1`, `S_{WᵀW}(z) = 1/σ_w²`.
    case orthogonal
    /// Convolutions: the centre tap of the kernel is the orthogonal case's matrix and every
    /// other tap is zero (Xiao et al. 2018, Algorithm 2). A fully connected layer is a
    /// convolution of width 1, whose delta-orthogonal kernel is the orthogonal matrix itself.
    case deltaOrthogonal = "delta-orthogonal"

    /// Whether the weights are a scaled Haar frame (orthogonal or delta-orthogonal).
    public var isOrthogonal: Bool { self != .gaussian }
}
