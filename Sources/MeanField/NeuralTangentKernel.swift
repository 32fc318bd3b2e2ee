extension MeanFieldMaps {
    /// The infinite-width neural tangent kernel of a feedforward net in the NTK
    /// parameterisation (Jacot, Gabriel & Hongler 2018; Lee et al. 2019), layer
    /// by layer on a batch:
    ///
    ///     Θ¹_ab = K¹_ab = σ_w² G0_ab + σ_b²,
    ///     Θ^{l+1}_ab = K^{l+1}_ab + K̇^{l+1}_ab Θ^l_ab,   K̇^{l+1}_ab = σ_w² E φ′(u_a) φ′(u_b),
    ///
    /// with (u_a, u_b) ~ N(0, K^l) (`chiC(qaa:qbb:c:)`) and K^l the NNGP covariances of the
    /// pre-activations (the mean-field `q^l_ab` of the architecture's layer maps) — the
    /// kernels of the output h^L, whose readout is layer L.
    ///
    /// - Parameter nngp: K^1 … K^L, each B×B row-major.
    /// - Returns: Θ^1 … Θ^L, each B×B row-major.
    public func neuralTangentKernel(nngp layers: [[Double]], count: Int) -> [[Double]] {
        guard var theta = layers.first else { return [] }
        var ntk = [theta]
        for l in 1..<Swift.max(layers.count, 1) {
            let previous = layers[l - 1], current = layers[l]
            var next = current
            for a in 0..<count {
                for b in a..<count {
                    let qaa = previous[a * count + a], qbb = previous[b * count + b]
                    let c = qaa > 0 && qbb > 0 ? previous[a * count + b] / (qaa * qbb).squareRoot() : 0
                    next[a * count + b] += chiC(qaa: qaa, qbb: qbb, c: c) * theta[a * count + b]
                    next[b * count + a] = next[a * count + b]
                }
            }
            theta = next
            ntk.append(theta)
        }
        return ntk
    }
}
