"""The output commands' defaults, most of them tuned, in one place that needs no TensorFlow.

The commands quote them in `--help` before TensorFlow loads; the library functions take them as their defaults.
How each was reached: benchmarks/README.md, under the section named beside it."""

# impute ("Imputation"): the sampling chain's iterations, as measured
IMPUTE_ITERATIONS = 100

# denoise ("Denoising", chosen on validation): the code search's gradient steps, and Adam's learning rate on z and
# log sigma alike
DENOISE_STEPS = 12
DENOISE_LEARNING_RATE = 0.3

# condense ("Condensation", chosen on validation)
CONDENSE_POOL = 200  # samples drawn per class to herd from
CONDENSE_HERDING_NETS, CONDENSE_WIDTH = 8, 32  # random ConvNets the pool is herded under, and their channels
CONDENSE_REAL_PER_CLASS, CONDENSE_REAL_BATCH = 1000, 64  # real images per class kept, drawn per class at each step
CONDENSE_STEPS, CONDENSE_LEARNING_RATE = 500, 0.05  # Adam steps on the codes, each under a freshly drawn ConvNet

# augment --balance ("Augmentation benefit", chosen on validation): the share of each class's shortfall synthesised,
# the rest copies of its real images
BALANCE_SHARE = 0.1

# generate, augment, condense, pictures ("Sampling temperature", chosen on validation): the latent noise is drawn as
# N(0, T^2 I), T by model family; the library's functions draw at T = 1, the distribution the model learned
TEMPERATURE = {"GAN": 1.2, "VAE": 1.0}

# augment --filter: the least probability of the requested label a sample needs, and rounds of redrawing at most
FILTER_THRESHOLD = 0.9
FILTER_MAX_ROUNDS = 10

# augment's estimate of whether the samples help: the folds of its cross-validation on the real images
ESTIMATE_FOLDS = 3

# evaluate ("How figures are chosen"): the reference classifier's optimizer steps, 5 epochs of the 60k MNIST train
# split; CAS gets as many on fewer samples. Part of the recipe that keys its cache.
REFERENCE_STEPS = 2345
