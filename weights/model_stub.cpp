// Placeholder until the pretrained-model issue lands: nothing to see here.
