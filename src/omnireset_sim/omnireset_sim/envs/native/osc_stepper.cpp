// Native "control step" of the MuJoCo engine: for N worlds, `nstep` physics steps of
//   OSC law (TCP FK + geometric Jacobian, omnireset_control's header-only core)
//   -> per-env motor delay -> optional dynamic-friction torque -> ctrl -> mj_step,
// without returning to Python between physics steps. It is the same computation as the torch
// path of OmniResetEnv.step (BatchedKinematics + BatchedOsc + MotorDelay +
// sysid.params.dynamic_friction_torque + MujocoEngine.step); that path stays the reference and
// test_native_stepper.py compares the two.
//
// Built and loaded by envs/native_stepper.py (g++ at first use, ctypes); C ABI only.
// Worlds are independent: every world starts from its own state row (mj_setState) and every
// piece of mjData that the step reads is set here, so the result of a world does not depend on
// which thread (and which scratch mjData) ran it: nthread 1 and 2 give bit-identical rows.

#include <mujoco/mujoco.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <exception>
#include <thread>
#include <vector>

#include "omnireset_control/composition.hpp"
#include "omnireset_control/osc_law.hpp"
#include "omnireset_control/ur_kinematics.hpp"

namespace
{
namespace oc = omnireset_control;
using RowMat3 = Eigen::Matrix<double, 3, 3, Eigen::RowMajor>;

// Every array is row-major and contiguous; N = nworld.
struct ControlStepArgs
{
  int nworld;
  int nstep;
  const mjModel * const * models;  // [N] (may all be the same model)
  mjData * const * datas;          // [nthread] scratch data, one per thread
  int nthread;
  int chunk;                       // worlds per work item (dynamic scheduling)
  double * state;                  // [N, nstate] mjSTATE_FULLPHYSICS rows, updated in place
  int nstate;
  int state_spec;
  double * control;                // [N, ncontrol] rows of control_spec (ctrl, mocap); arm
  int ncontrol;                    //   entries get the last applied torque
  int control_spec;
  const int * arm_actuator;        // [6] actuator ids of the arm motors
  const int * arm_qpos;            // [6] qpos addresses of the arm joints
  const int * arm_dof;             // [6] dof addresses of the arm joints
  const double * kinematics;       // [7, 6] x y z roll pitch yaw: 6 joint origins, TCP offset
  const double * target_pos;       // [N, 3] held TCP target, base_link
  const double * target_rot;       // [N, 3, 3]
  const double * kp;               // [N, 6]
  const double * kd;               // [N, 6]
  double pos_clip;
  double rot_clip;
  double * delay_buffer;           // [max_delay + 1, N, 6], newest first (MotorDelay.buffer)
  int max_delay;
  const int64_t * delay;           // [N] physics steps of delay, 0..max_delay
  const double * friction_static;  // [N, 6] or null: no dynamic-friction torque
  const double * friction_ratio;   // [N, 6] dynamic / static
  double stiction_velocity;
  double stribeck_velocity;
  int64_t * nonfinite_count;       // [N] += 1 per physics step with non-finite law inputs
  double * warmstart;              // [N, nv] solver warm start carried between calls (a continuous
                                   //   mj_step loop), updated in place; null: cold start every
                                   //   physics step, as the state-row path (rollout, nstep=1) does
  int * failed;                    // [N] set to 1 where MuJoCo raised an error (world untouched after)
};

oc::UrKinematicsParams params_from_rows(const double * rows)
{
  oc::UrKinematicsParams params;
  for (int i = 0; i < 7; ++i) {
    oc::JointOrigin & o = i < 6 ? params.joints[i] : params.tcp;
    o.xyz = oc::Vec3(rows[6 * i], rows[6 * i + 1], rows[6 * i + 2]);
    o.rpy = oc::Vec3(rows[6 * i + 3], rows[6 * i + 4], rows[6 * i + 5]);
  }
  return params;
}

inline double sign_of(double v) { return v > 0.0 ? 1.0 : (v < 0.0 ? -1.0 : 0.0); }

void step_world(const ControlStepArgs & a, const oc::UrKinematics & kin, mjData * d, int w)
{
  const mjModel * m = a.models[w];
  double * state_row = a.state + static_cast<std::int64_t>(w) * a.nstate;
  double * control_row = a.control + static_cast<std::int64_t>(w) * a.ncontrol;
  const std::int64_t n = a.nworld;
  double * warmstart_row = a.warmstart ? a.warmstart + static_cast<std::int64_t>(w) * m->nv : nullptr;
  mj_setState(m, d, state_row, a.state_spec);
  if (warmstart_row) { mju_copy(d->qacc_warmstart, warmstart_row, m->nv); }

  const Eigen::Map<const oc::Vec3> target_pos(a.target_pos + 3 * w);
  const oc::Mat3 target_rot = Eigen::Map<const RowMat3>(a.target_rot + 9 * w);
  oc::OscGains gains;
  gains.kp = Eigen::Map<const oc::Vec6>(a.kp + 6 * w);
  gains.kd = Eigen::Map<const oc::Vec6>(a.kd + 6 * w);
  const bool target_finite = target_pos.allFinite() && target_rot.allFinite();
  const int delay = static_cast<int>(std::min<std::int64_t>(std::max<std::int64_t>(a.delay[w], 0), a.max_delay));
  oc::KinematicsResult fk;
  oc::Vec6 applied = oc::Vec6::Zero();

  for (int step = 0; step < a.nstep; ++step) {
    // MuJoCo resets a diverged world inside mj_step (ctrl and mocap included): set them every step.
    mj_setState(m, d, control_row, a.control_spec);
    oc::Vec6 q, qd;
    for (int j = 0; j < 6; ++j) {
      q(j) = d->qpos[a.arm_qpos[j]];
      qd(j) = d->qvel[a.arm_dof[j]];
    }
    kin.compute(q, fk, true);
    oc::Vec6 tau = oc::Vec6::Zero();
    // Judge the law's inputs (as BatchedOsc.torque): non-finite -> zero torque, counted.
    if (target_finite && qd.allFinite() && fk.position.allFinite() && fk.rotation.allFinite() &&
        fk.jacobian.allFinite()) {
      const oc::Vec6 e = oc::pose_error(fk.position, fk.rotation, target_pos, target_rot, a.pos_clip, a.rot_clip);
      tau = oc::osc_torque(fk.jacobian, qd, e, gains);
    } else {
      a.nonfinite_count[w] += 1;
    }
    // Motor delay (mdp.actions.MotorDelay): shift this env's slots, newest in slot 0, output
    // the torque of `delay` calls ago.
    for (int k = a.max_delay; k > 0; --k) {
      for (int j = 0; j < 6; ++j) {
        a.delay_buffer[(k * n + w) * 6 + j] = a.delay_buffer[((k - 1) * n + w) * 6 + j];
      }
    }
    for (int j = 0; j < 6; ++j) { a.delay_buffer[w * 6 + j] = tau(j); }
    for (int j = 0; j < 6; ++j) { applied(j) = a.delay_buffer[(delay * n + w) * 6 + j]; }
    if (a.friction_static != nullptr) {
      // sysid.params.dynamic_friction_torque, added undelayed (it acts on the joint).
      for (int j = 0; j < 6; ++j) {
        const double v = qd(j);
        const double slide = std::tanh(std::max(std::fabs(v) - a.stiction_velocity, 0.0) / a.stribeck_velocity);
        applied(j) = applied(j) + a.friction_static[6 * w + j] * (1.0 - a.friction_ratio[6 * w + j]) * sign_of(v) * slide;
      }
    }
    for (int j = 0; j < 6; ++j) { d->ctrl[a.arm_actuator[j]] = applied(j); }
    if (!warmstart_row) { mju_zero(d->qacc_warmstart, m->nv); }
    for (int i = 0; i < mjNWARNING; ++i) { d->warning[i].number = 0; }
    mj_step(m, d);
  }
  mj_getState(m, d, state_row, a.state_spec);
  if (warmstart_row) { mju_copy(warmstart_row, d->qacc_warmstart, m->nv); }
  for (int j = 0; j < 6; ++j) { control_row[a.arm_actuator[j]] = applied(j); }
}
}  // namespace

extern "C" {

// ABI version: native_stepper.py refuses a library whose version differs from its own.
int omnireset_osc_stepper_abi_version() { return 4; }

// TCP pose and geometric Jacobian of n configurations q [n, 6] (the env's observations and target
// composition in the native backend): pos [n, 3], rot [n, 3, 3], jac [n, 6, 6], row-major.
int omnireset_tcp_kinematics(const double * kinematics, int n, const double * q, double * pos, double * rot,
                             double * jac)
{
  const oc::UrKinematicsParams params = params_from_rows(kinematics);
  if (n < 0 || !params.all_finite()) { return -1; }
  const oc::UrKinematics kin(params);
  oc::KinematicsResult fk;
  for (int i = 0; i < n; ++i) {
    kin.compute(Eigen::Map<const oc::Vec6>(q + 6 * i), fk, true);
    Eigen::Map<oc::Vec3>(pos + 3 * i) = fk.position;
    Eigen::Map<RowMat3>(rot + 9 * i) = fk.rotation;
    Eigen::Map<Eigen::Matrix<double, 6, 6, Eigen::RowMajor>>(jac + 36 * i) = fk.jacobian;
  }
  return 0;
}

// Rotation matrices [n, 3, 3] of quaternions [n, 4] (w, x, y, z) scaled to unit length first
// (norm clamped at 1e-9, as the env's torch path does before quat_to_matrix).
int omnireset_unit_quat_to_matrix(int n, const double * quat, double * rot)
{
  for (int i = 0; i < n; ++i) {
    const oc::Vec4 q = Eigen::Map<const oc::Vec4>(quat + 4 * i);
    Eigen::Map<RowMat3>(rot + 9 * i) = oc::quat_to_matrix(q / std::max(q.norm(), 1e-9));
  }
  return 0;
}

// Held targets of n rows (omnireset_control compose_target): returns how many rows came out
// non-finite (the caller rejects them, as the torch composition does).
int omnireset_compose_target(int n, const double * pos, const double * rot, const double * action,
                             const double * scale, double * target_pos, double * target_rot)
{
  const oc::Vec6 s = Eigen::Map<const oc::Vec6>(scale);
  int nonfinite = 0;
  for (int i = 0; i < n; ++i) {
    const oc::Pose t = oc::compose_target(Eigen::Map<const oc::Vec3>(pos + 3 * i),
                                          oc::Mat3(Eigen::Map<const RowMat3>(rot + 9 * i)),
                                          Eigen::Map<const oc::Vec6>(action + 6 * i), s);
    Eigen::Map<oc::Vec3>(target_pos + 3 * i) = t.position;
    Eigen::Map<RowMat3>(target_rot + 9 * i) = t.rotation;
    nonfinite += (t.position.allFinite() && t.rotation.allFinite()) ? 0 : 1;
  }
  return nonfinite;
}

// Returns 0 on success, -1 on bad arguments, else the number of worlds where MuJoCo raised.
int omnireset_osc_control_step(const ControlStepArgs * args)
{
  if (args == nullptr || args->nworld <= 0 || args->nstep <= 0 || args->nthread <= 0 || args->max_delay < 0 ||
      args->models == nullptr || args->datas == nullptr || args->state == nullptr || args->control == nullptr) {
    return -1;
  }
  const ControlStepArgs & a = *args;
  const oc::UrKinematicsParams params = params_from_rows(a.kinematics);
  if (!params.all_finite()) { return -1; }
  const oc::UrKinematics kin(params);
  const int chunk = std::max(1, a.chunk);
  std::atomic<int> next{0};
  std::atomic<int> nfailed{0};
  auto worker = [&](int thread) {
    mjData * d = a.datas[thread];
    for (;;) {
      const int begin = next.fetch_add(chunk);
      if (begin >= a.nworld) { break; }
      const int end = std::min(a.nworld, begin + chunk);
      for (int w = begin; w < end; ++w) {
        try {
          step_world(a, kin, d, w);
          a.failed[w] = 0;
        } catch (...) {  // mju_error from the Python bindings' handler: report, keep going
          a.failed[w] = 1;
          nfailed.fetch_add(1);
        }
      }
    }
  };
  const int nthread = std::min(a.nthread, std::max(1, (a.nworld + chunk - 1) / chunk));
  std::vector<std::thread> pool;
  pool.reserve(nthread - 1);
  for (int t = 1; t < nthread; ++t) { pool.emplace_back(worker, t); }
  worker(0);
  for (auto & t : pool) { t.join(); }
  return nfailed.load();
}
}  // extern "C"
