// Sandbox fixture: throws while its module is evaluated.
throw new Error("cannot start: no configuration");
