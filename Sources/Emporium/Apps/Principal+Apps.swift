extension Principal {
    /// The person whose own data (orders) this caller reads: a signed-in person, or an app
    /// acting for one. API keys and apps acting for themselves have none.
    var person: User? {
        switch self {
        case .user(let user): user
        case .app(let access): access.user
        case .apiKey: nil
        }
    }
}
