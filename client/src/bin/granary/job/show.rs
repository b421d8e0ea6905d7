//! Human views of jobs: the list, one job's status, the counters.

use granary_client::protocol::{JobCounters, JobStatus};

use crate::output;

pub fn print_list(jobs: &[JobStatus]) {
    if jobs.is_empty() {
        println!("no jobs");
        return;
    }
    println!(
        "{:<24} {:<10} {:>9} {:>9}  {:<19}  OUTPUT",
        "ID", "STATE", "MAPS", "REDUCES", "SUBMITTED"
    );
    for job in jobs {
        println!(
            "{:<24} {:<10} {:>9} {:>9}  {:<19}  {}",
            job.id,
            job.state.as_str(),
            format!("{}/{}", job.maps_done, job.maps_total),
            format!("{}/{}", job.reduces_done, job.reduces_total),
            output::time_ms(job.submitted_ms),
            job.output
        );
    }
}

pub fn print_status(job: &JobStatus) {
    println!("job:       {}", job.id);
    println!("state:     {}", job.state.as_str());
    println!("phase:     {}", phase_name(job));
    println!("maps:      {}/{}", job.maps_done, job.maps_total);
    println!("reduces:   {}/{}", job.reduces_done, job.reduces_total);
    println!("output:    {}", job.output);
    println!("submitted: {}", output::time_ms(job.submitted_ms));
    if let Some(finished) = job.finished_ms {
        println!("finished:  {}", output::time_ms(finished));
    }
    if let Some(error) = &job.error {
        println!("error:     {error}");
    }
    print_counters(&job.counters);
}

pub fn phase_name(job: &JobStatus) -> &'static str {
    use granary_client::protocol::JobPhase;
    match job.phase {
        JobPhase::Map => "map",
        JobPhase::Reduce => "reduce",
        JobPhase::Commit => "commit",
        JobPhase::Done => "done",
    }
}

pub fn print_counters(c: &JobCounters) {
    println!("counters:");
    let rows: [(&str, u64); 19] = [
        ("data_local_maps", c.data_local_maps),
        ("rack_local_maps", c.rack_local_maps),
        ("remote_maps", c.remote_maps),
        ("map_input_records", c.tasks.map_input_records),
        ("map_input_bytes", c.tasks.map_input_bytes),
        ("map_output_records", c.tasks.map_output_records),
        ("combine_input_records", c.tasks.combine_input_records),
        ("combine_output_records", c.tasks.combine_output_records),
        ("shuffle_bytes", c.tasks.shuffle_bytes),
        ("reduce_input_groups", c.tasks.reduce_input_groups),
        ("reduce_output_records", c.tasks.reduce_output_records),
        ("local_bytes_read", c.tasks.local_bytes_read),
        ("remote_bytes_read", c.tasks.remote_bytes_read),
        ("failed_attempts", c.failed_attempts),
        ("speculative_attempts", c.speculative_attempts),
        ("shuffle_checksum_failures", c.shuffle_checksum_failures),
        ("map_phase_ms", c.map_phase_ms),
        ("reduce_phase_ms", c.reduce_phase_ms),
        ("total_ms", c.total_ms),
    ];
    for (name, value) in rows {
        println!("  {name:<24} {value}");
    }
    for (group, names) in &c.tasks.user {
        for (name, value) in names {
            println!("  {:<24} {value}", format!("{group}.{name}"));
        }
    }
}
