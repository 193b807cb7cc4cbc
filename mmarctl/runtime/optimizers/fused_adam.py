"""Keras' Adam with each variable's update as one TensorFlow kernel (``ResourceApplyAdam``).

Keras 3's ``Adam.update_step`` writes the update as separate operations per variable
(subtract, multiply, square, assign-add twice, square root, divide, assign-subtract), each a
pass over the variable and its two moments, and each a kernel the executor schedules.
``ResourceApplyAdam`` updates the variable and both moments in one vectorised pass. The
arithmetic is the same (Kingma & Ba's, with epsilon added to the root of the second moment
and the bias corrections folded into the rate, as Keras does), and so are the optimizer's
variables, so checkpoints are interchangeable with ``keras.optimizers.Adam``.

Where the kernel does not apply (AMSGrad, sparse gradients, variables other than float32 or
float64) Keras' own update runs.
"""

from __future__ import annotations

import keras
import tensorflow as tf

_KERNEL_DTYPES = (tf.float32, tf.float64)


class FusedAdam(keras.optimizers.Adam):
    """``keras.optimizers.Adam`` whose dense updates are one ``ResourceApplyAdam`` each."""

    def update_step(self, gradient, variable, learning_rate):
        if (self.amsgrad or isinstance(gradient, tf.IndexedSlices)
                or variable.dtype not in _KERNEL_DTYPES):
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        index = self._get_variable_index(variable)
        step = tf.cast(self.iterations + 1, dtype)
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=_handle(variable), m=_handle(self._momentums[index]),
            v=_handle(self._velocities[index]), beta1_power=tf.pow(beta_1, step),
            beta2_power=tf.pow(beta_2, step), lr=tf.cast(learning_rate, dtype), beta1=beta_1,
            beta2=beta_2, epsilon=tf.cast(self.epsilon, dtype), grad=tf.cast(gradient, dtype))


def _handle(variable):
    """The resource handle of a Keras or TensorFlow variable."""
    if isinstance(variable, keras.Variable):
        variable = variable.value
    return variable.handle
